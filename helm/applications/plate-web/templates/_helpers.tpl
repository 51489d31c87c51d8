{{/*
Chart name, truncated to 63 characters (the Kubernetes label-value limit).
*/}}
{{- define "plate-web.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: release-chart, unless the release name already contains the chart name.
*/}}
{{- define "plate-web.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, as used by the helm.sh/chart label.
*/}}
{{- define "plate-web.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Standard labels.
*/}}
{{- define "plate-web.labels" -}}
helm.sh/chart: {{ include "plate-web.chart" . }}
{{ include "plate-web.selectorLabels" . }}
app.kubernetes.io/version: {{ include "plate-web.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: immutable on a Deployment, so nothing that changes between releases goes here.
*/}}
{{- define "plate-web.selectorLabels" -}}
app.kubernetes.io/name: {{ include "plate-web.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Image tag: values.image.tag, else the chart's appVersion.
*/}}
{{- define "plate-web.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
ServiceAccount name.
*/}}
{{- define "plate-web.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "plate-web.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}
