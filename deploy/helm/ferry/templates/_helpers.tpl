{{- define "ferry.name" -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- define "ferry.selector" -}}
app.kubernetes.io/name: ferry
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "ferry.labels" -}}
{{ include "ferry.selector" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}
{{- define "ferry.configMap" -}}
{{- if .Values.pipeline.existingConfigMap }}{{ .Values.pipeline.existingConfigMap }}{{ else }}{{ include "ferry.name" . }}-pipeline{{ end -}}
{{- end -}}
{{- define "ferry.replicas" -}}
{{- if eq .Values.store "file" }}1{{ else }}{{ .Values.replicas }}{{ end -}}
{{- end -}}
{{/* memory limit in MiB: max(full, incremental) + log reader + overhead */}}
{{- define "ferry.memoryMiB" -}}
{{- $presets := dict "small" (list 256 128 128) "medium" (list 512 256 256) "large" (list 1024 512 512) -}}
{{- $p := .Values.pipelineResources -}}
{{- $v := list 64 0 0 -}}
{{- if $p.preset }}{{ $v = get $presets $p.preset }}{{ end -}}
{{- $full := int (index $v 0) -}}{{- $inc := int (index $v 2) -}}{{- $log := int (index $v 1) -}}
{{- if $p.fullMemoryMiB }}{{ $full = int $p.fullMemoryMiB }}{{ end -}}
{{- if $p.incrementalMemoryMiB }}{{ $inc = int $p.incrementalMemoryMiB }}{{ end -}}
{{- if $p.logReaderMemoryMiB }}{{ $log = int $p.logReaderMemoryMiB }}{{ end -}}
{{- add (max $full $inc) $log (int .Values.overheadMiB) -}}
{{- end -}}
