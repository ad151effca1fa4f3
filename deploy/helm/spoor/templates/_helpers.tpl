{{- define "spoor.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "spoor.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Labels of one component: call with (dict "ctx" $ "component" "ingest"). */}}
{{- define "spoor.selectorLabels" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "spoor.labels" -}}
{{ include "spoor.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version }}
{{- end -}}

{{- define "spoor.probes" -}}
livenessProbe:
  httpGet:
    path: /
    port: health
  initialDelaySeconds: 10
  periodSeconds: 10
readinessProbe:
  httpGet:
    path: /
    port: health
  periodSeconds: 5
{{- end -}}

{{- define "spoor.s3env" -}}
- name: SPOOR_STORAGE_URL
  value: {{ .Values.storage.url | quote }}
{{- with .Values.storage.endpoint }}
- name: AWS_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: AWS_REGION
  value: {{ .Values.storage.region | quote }}
- name: AWS_ALLOW_HTTP
  value: {{ .Values.storage.allowHttp | quote }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef: {name: {{ .Values.storage.existingSecret }}, key: access-key-id}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef: {name: {{ .Values.storage.existingSecret }}, key: secret-access-key}
{{- end -}}

{{- define "spoor.commonEnv" -}}
- name: SPOOR_RETENTION
  value: {{ .Values.retention | quote }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}
