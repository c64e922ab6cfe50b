{{- /* Labels of every object the support chart renders itself; `component` names which part. */}}
{{- define "support.labels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: support
{{- end }}

{{- define "support.selector" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{- /* Tolerations of node-level DaemonSets: they must also run on user, dask and GPU nodes. */}}
{{- define "support.nodeTolerations" -}}
- key: nvidia.com/gpu
  operator: Exists
  effect: NoSchedule
- key: hub.jupyter.org/dedicated
  operator: Equal
  value: user
  effect: NoSchedule
- key: hub.jupyter.org_dedicated
  operator: Equal
  value: user
  effect: NoSchedule
- key: k8s.dask.org_dedicated
  operator: Equal
  value: worker
  effect: NoSchedule
{{- end }}
