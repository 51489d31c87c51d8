{{- /* bitnami/common templates/_secrets.tpl "common.secrets.passwords.manage" and _errors.tpl
"common.errors.upgrade.passwords.empty", reduced to their behaviour: the password is the live Secret's (lookup),
else the value given, else a random one on install; on an UPGRADE with neither the live Secret nor a value the
render fails with "PASSWORDS ERROR". An offline render (no lookup) of an upgrade therefore always fails.
Params: secret (name), key, providedValue (the value or ""), length, context ($). Returns the base64 value. */ -}}
{{- define "common.secrets.passwords.manage" -}}
{{- $live := lookup "v1" "Secret" .context.Release.Namespace .secret -}}
{{- if and $live $live.data (hasKey $live.data .key) -}}
{{- index $live.data .key -}}
{{- else if .providedValue -}}
{{- .providedValue | toString | b64enc -}}
{{- else if .context.Release.IsUpgrade -}}
{{- printf "\nPASSWORDS ERROR: You must provide your current passwords when upgrading the release.\n                 Note that even after reinstallation, old credentials may be needed as they may be kept in persistent volume claims.\n                 Further information can be obtained at https://docs.bitnami.com/general/how-to/troubleshoot-helm-chart-issues/#credential-errors-while-upgrading-chart-releases\n\n    '%s' must not be empty, please add '--set %s=$%s' to the command. To get the current value:\n\n        export %s=$(kubectl get secret --namespace \"%s\" %s -o jsonpath=\"{.data.%s}\" | base64 -d)\n" .valueKey .valueKey (upper (replace "." "_" .key)) (upper (replace "." "_" .key)) .context.Release.Namespace .secret .key | fail -}}
{{- else -}}
{{- randAlphaNum (default 10 .length) | b64enc -}}
{{- end -}}
{{- end -}}
