"""The hand-written protobuf decoder, on messages encoded here by the wire format's rules.

(The Helm tests exercise it with what client-go really sends.)
"""

from __future__ import annotations

import pytest

from kubesandbox.protobuf import ProtobufError, UnsupportedKind, decode


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return varint(num << 3) + varint(payload)
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def entry(k: str, v: bytes) -> bytes:
    return field(1, k.encode()) + field(2, v)


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = field(1, api_version.encode()) + field(2, kind.encode())
    return b"k8s\x00" + field(1, type_meta) + field(2, raw)


def test_secret() -> None:
    meta = (field(1, b"s1") + field(3, b"ns") + field(11, entry("owner", b"helm"))
            + field(12, entry("a", b"b")) + field(7, 3)
            + field(13, field(1, b"Deployment") + field(3, b"web") + field(4, b"uid-1") + field(5, b"apps/v1")
                    + field(6, 1)))
    raw = field(1, meta) + field(2, entry("k", b"\x00\xffbin")) + field(3, b"helm.sh/release.v1")
    obj = decode(envelope("v1", "Secret", raw))
    assert obj == {"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "s1", "namespace": "ns", "labels": {"owner": "helm"},
                                "annotations": {"a": "b"}, "generation": 3,
                                "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "uid-1",
                                                     "apiVersion": "apps/v1", "controller": True}]},
                   "data": {"k": "AP9iaW4="}, "type": "helm.sh/release.v1"}


def test_configmap_and_delete_options() -> None:
    raw = field(1, field(1, b"c")) + field(2, entry("x", b"1")) + field(3, entry("b", b"\x01"))
    assert decode(envelope("v1", "ConfigMap", raw)) == {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"x": "1"},
        "binaryData": {"b": "AQ=="}}
    opts = decode(envelope("meta.k8s.io/v1", "DeleteOptions", field(4, b"Foreground")))
    assert opts["propagationPolicy"] == "Foreground"


@pytest.mark.parametrize("body", [b"", b"nope", b"k8s\x00\x0a\xff", envelope("apps/v1", "StatefulSet", b""),
                                  envelope("v1", "Pod", field(2, field(18, b"affinity")))])
def test_rejects_what_it_cannot_read(body: bytes) -> None:
    with pytest.raises(ProtobufError):
        decode(body)


def test_unknown_fields_are_refused_not_dropped() -> None:
    with pytest.raises(UnsupportedKind, match="field 18 of PodSpec"):
        decode(envelope("v1", "Pod", field(2, field(18, b""))))


def test_zero_values_follow_go_pointer_semantics() -> None:
    # replicas is a pointer (0 is meaningful); minReadySeconds is not (0 on the wire means unset)
    spec = field(1, 0) + field(5, 0) + field(7, 0)
    obj = decode(envelope("apps/v1", "Deployment", field(1, field(1, b"d")) + field(2, spec)))
    assert obj["spec"] == {"replicas": 0}
