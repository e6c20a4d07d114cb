{{/* The chart's name, truncated to 63 characters (a DNS label). */}}
{{- define "datastate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the release name when it already contains the chart name. */}}
{{- define "datastate.fullname" -}}
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

{{- define "datastate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "datastate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "datastate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{/* The selector labels as k=v,k=v (sorted by key), e.g. for --worker-network-policy-pod-labels. */}}
{{- define "datastate.selectorLabelList" -}}
{{- $pairs := list }}
{{- range $k, $v := include "datastate.selectorLabels" . | fromYaml }}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{- define "datastate.labels" -}}
helm.sh/chart: {{ include "datastate.chart" . }}
{{ include "datastate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: datastate
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "datastate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "datastate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "datastate.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "datastate.leaseName" -}}
{{- default (printf "%s-controller" (include "datastate.fullname" .)) .Values.controller.leaderElection.leaseName }}
{{- end }}
