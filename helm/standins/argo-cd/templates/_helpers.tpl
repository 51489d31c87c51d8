{{- define "argocd.selector" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}
{{- define "argocd.labels" -}}
{{ include "argocd.selector" . }}
app.kubernetes.io/component: {{ .component | trimPrefix "argocd-" }}
app.kubernetes.io/part-of: argocd
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}
{{- define "argocd.workload" -}}
apiVersion: apps/v1
kind: {{ .kind }}
metadata:
  name: {{ .root.Release.Name }}-{{ .component | trimPrefix "argocd-" }}
  namespace: {{ .root.Release.Namespace }}
  labels: {{- include "argocd.labels" . | nindent 4 }}
spec:
  replicas: {{ .replicas }}
  {{- if eq .kind "StatefulSet" }}
  serviceName: {{ .root.Release.Name }}-{{ .component | trimPrefix "argocd-" }}
  {{- end }}
  selector:
    matchLabels: {{- include "argocd.selector" . | nindent 6 }}
  template:
    metadata:
      labels: {{- include "argocd.labels" . | nindent 8 }}
    spec:
      serviceAccountName: {{ .root.Release.Name }}-{{ .component | trimPrefix "argocd-" }}
      containers:
        - name: {{ .component | trimPrefix "argocd-" }}
          image: {{ .image | quote }}
          {{- with .args }}
          args: {{- toYaml . | nindent 12 }}
          {{- end }}
          ports:
            - {name: {{ .portName }}, containerPort: {{ .port }}}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .root.Release.Name }}-{{ .component | trimPrefix "argocd-" }}
  namespace: {{ .root.Release.Namespace }}
  labels: {{- include "argocd.labels" . | nindent 4 }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .root.Release.Name }}-{{ .component | trimPrefix "argocd-" }}
  namespace: {{ .root.Release.Namespace }}
  labels: {{- include "argocd.labels" . | nindent 4 }}
spec:
  type: {{ .serviceType | default "ClusterIP" }}
  ports:
    - {name: {{ .portName }}, port: {{ .servicePort | default .port }}, targetPort: {{ .port }}}
  selector: {{- include "argocd.selector" . | nindent 4 }}
{{- end -}}
