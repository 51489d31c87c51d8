{{- define "harbor.selector" -}}
app.kubernetes.io/name: harbor
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}
{{- define "harbor.workload" -}}
apiVersion: apps/v1
kind: {{ .kind }}
metadata:
  name: {{ .root.Release.Name }}-{{ .component }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "harbor.selector" . | nindent 4 }}
    app.kubernetes.io/managed-by: {{ .root.Release.Service }}
    helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
spec:
  replicas: {{ .replicas }}
  {{- if eq .kind "StatefulSet" }}
  serviceName: {{ .root.Release.Name }}-{{ .component }}
  {{- end }}
  selector:
    matchLabels: {{- include "harbor.selector" . | nindent 6 }}
  template:
    metadata:
      labels: {{- include "harbor.selector" . | nindent 8 }}
    spec:
      securityContext: {runAsUser: 1001, fsGroup: 1001}
      containers:
        - name: {{ .component }}
          image: "docker.io/{{ .image.repository }}:{{ .image.tag | default .root.Chart.AppVersion }}"
          {{- if .secretEnv }}
          envFrom:
            - secretRef: {name: {{ .root.Release.Name }}-core-envvars}
          {{- end }}
          ports:
            - {name: {{ .portName }}, containerPort: {{ .port }}}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .root.Release.Name }}{{ if ne .component "nginx" }}-{{ .component }}{{ end }}
  namespace: {{ .root.Release.Namespace }}
  labels: {{- include "harbor.selector" . | nindent 4 }}
spec:
  type: {{ .serviceType | default "ClusterIP" }}
  ports:
    - {name: {{ .portName }}, port: {{ .servicePort | default .port }}, targetPort: {{ .port }}}
  selector: {{- include "harbor.selector" . | nindent 4 }}
{{- end -}}
