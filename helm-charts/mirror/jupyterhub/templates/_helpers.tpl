{{/* Labels shared by every object of the stand-in (the label names upstream uses). */}}
{{- define "jupyterhub.labels" -}}
app: jupyterhub
release: {{ .Release.Name }}
chart: {{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
heritage: {{ .Release.Service }}
{{- end }}

{{- define "jupyterhub.image" -}}
{{ .name }}{{ if .tag }}:{{ .tag }}{{ end }}
{{- end }}

{{/*
A generated secret that survives upgrades: the value already in the cluster's Secret `hub`
under `key` when there is one, else a new random one.
*/}}
{{- define "jupyterhub.persisted" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace "hub" -}}
{{- if and $existing (index ($existing.data | default dict) .key) -}}
{{- index $existing.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 64 | sha256sum -}}
{{- end -}}
{{- end }}

{{/* Cull settings as the hub's idle-culler service would receive them. */}}
{{- define "jupyterhub.cullArgs" -}}
- --timeout={{ .Values.cull.timeout }}
- --cull-every={{ .Values.cull.every }}
- --concurrency={{ .Values.cull.concurrency }}
{{- if .Values.cull.users }}
- --cull-users
{{- end }}
{{- if .Values.cull.removeNamedServers }}
- --remove-named-servers
{{- end }}
{{- if .Values.cull.maxAge }}
- --max-age={{ .Values.cull.maxAge }}
{{- end }}
{{- end }}
