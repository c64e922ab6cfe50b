{{/* The hub's public domain: the first ingress host deployer passed, or "" without one. */}}
{{- define "basehub.domain" -}}
{{- $hosts := .Values.jupyterhub.ingress.hosts | default list -}}
{{- if $hosts }}{{ first $hosts }}{{ end -}}
{{- end }}

{{- define "basehub.labels" -}}
app.kubernetes.io/name: basehub
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
{{- end }}
