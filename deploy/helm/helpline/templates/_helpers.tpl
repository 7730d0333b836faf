{{/* Names, labels and shared pieces of every Helpline object. */}}

{{- define "helpline.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "helpline.labels" -}}
app.kubernetes.io/name: helpline
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one service; call with (dict "root" $ "name" "intake"). */}}
{{- define "helpline.selectorLabels" -}}
app.kubernetes.io/name: helpline
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "helpline.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "helpline.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "helpline.image" -}}
{{- printf "%s/helpline-%s:%s" .root.Values.image.repository .name (default .root.Chart.AppVersion .root.Values.image.tag) -}}
{{- end -}}

{{/* A Kubernetes object name for a Kafka topic (dots and underscores are not allowed everywhere). */}}
{{- define "helpline.topicObjectName" -}}
{{- . | lower | replace "_" "-" | replace "." "-" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Environment of a service container; call with (dict "root" $ "name" "intake"). */}}
{{- define "helpline.env" -}}
- name: HELPLINE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.database.existingSecret }}
      key: {{ get .root.Values.database.urlKeys .name }}
- name: HELPLINE_TOKEN_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.auth.existingSecret }}
      key: {{ .root.Values.auth.tokenSecretKey }}
- name: HELPLINE_HTTP_PORT
  value: {{ (get .root.Values.services .name).httpPort | quote }}
- name: OTEL_SERVICE_NAME
  value: helpline-{{ .name }}
{{- end -}}

{{- define "helpline.envFrom" -}}
- configMapRef:
    name: {{ include "helpline.fullname" .root }}
{{- with .root.Values.extraEnvFrom.configMap }}
- configMapRef:
    name: {{ . }}
{{- end }}
{{- with .root.Values.extraEnvFrom.secret }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end -}}
