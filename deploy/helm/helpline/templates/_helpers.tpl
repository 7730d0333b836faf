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

{{/* Image of a service: services.NAME.image overrides image; a digest pins it (repo@sha256:...). */}}
{{- define "helpline.image" -}}
{{- $own := (get .root.Values.services .name).image | default dict -}}
{{- $repository := $own.repository | default (printf "%s/helpline-%s" .root.Values.image.repository .name) -}}
{{- $digest := $own.digest | default "" -}}
{{- if $digest -}}
{{- printf "%s@%s" $repository $digest -}}
{{- else -}}
{{- printf "%s:%s" $repository ($own.tag | default .root.Values.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* In-cluster URL of a service's HTTP API; call with (dict "root" $ "name" "intake"). */}}
{{- define "helpline.url" -}}
{{- $svc := get .root.Values.services .name -}}
{{- if not $svc -}}{{- fail (printf "services: a service calls %q, which is not in services" .name) -}}{{- end -}}
{{- printf "http://%s-%s:%v" (include "helpline.fullname" .root) .name $svc.httpPort -}}
{{- end -}}

{{/* Where a service's pods (and its migration Job) may run: the service's own value, else the
global one; call with (dict "root" $ "name" "intake"). */}}
{{- define "helpline.placement" -}}
{{- $svc := get .root.Values.services .name -}}
{{- $root := .root.Values -}}
{{- with ($svc.priorityClassName | default $root.priorityClassName) }}
priorityClassName: {{ . }}
{{- end }}
{{- with ($svc.nodeSelector | default $root.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with ($svc.tolerations | default $root.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with ($svc.affinity | default $root.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Placement and spread of a service's pods; call with (dict "root" $ "name" "intake"). */}}
{{- define "helpline.scheduling" -}}
{{- $svc := get .root.Values.services .name -}}
{{- $root := .root.Values -}}
{{- include "helpline.placement" . }}
{{- $selector := fromYaml (include "helpline.selectorLabels" .) }}
{{- $constraints := list }}
{{- if $root.topologySpread.enabled }}
{{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
{{- $constraints = append $constraints (dict "maxSkew" $root.topologySpread.maxSkew "topologyKey" $key "whenUnsatisfiable" $root.topologySpread.whenUnsatisfiable "labelSelector" (dict "matchLabels" $selector)) }}
{{- end }}
{{- end }}
{{- range ($svc.topologySpreadConstraints | default $root.topologySpreadConstraints) }}
{{- $constraint := deepCopy . }}
{{- if not (hasKey $constraint "labelSelector") }}
{{- $_ := set $constraint "labelSelector" (dict "matchLabels" $selector) }}
{{- end }}
{{- $constraints = append $constraints $constraint }}
{{- end }}
{{- with $constraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A container's preStop hook: endpoints drain before SIGTERM. */}}
{{- define "helpline.lifecycle" -}}
{{- $preStop := .Values.preStop -}}
{{- if gt (int $preStop.sleepSeconds) 0 }}
lifecycle:
  preStop:
    {{- if $preStop.native }}
    sleep:
      seconds: {{ $preStop.sleepSeconds }}
    {{- else }}
    exec:
      command: ["sleep", {{ $preStop.sleepSeconds | quote }}]
    {{- end }}
{{- end }}
{{- if le (int .Values.terminationGracePeriodSeconds) (add .Values.preStop.sleepSeconds .Values.shutdownTimeoutSeconds | int) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed preStop.sleepSeconds + shutdownTimeoutSeconds (%v)" .Values.terminationGracePeriodSeconds (add .Values.preStop.sleepSeconds .Values.shutdownTimeoutSeconds)) }}
{{- end }}
{{- end -}}

{{/* A Kubernetes object name for a Kafka topic (dots and underscores are not allowed everywhere). */}}
{{- define "helpline.topicObjectName" -}}
{{- . | lower | replace "_" "-" | replace "." "-" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The KafkaUser (and Strimzi's Secret of it) of one service; call with (dict "root" $ "name" "intake"). */}}
{{- define "helpline.kafkaUser" -}}
{{- include "helpline.fullname" .root }}-{{ .name }}
{{- end -}}

{{/* Where a service reads the cluster CA and its own client certificate (tls users). */}}
{{- define "helpline.kafkaCaDir" -}}/etc/helpline/kafka-ca{{- end -}}
{{- define "helpline.kafkaUserDir" -}}/etc/helpline/kafka-user{{- end -}}

{{/* Kafka client security of a service container; call with (dict "root" $ "name" "intake"). */}}
{{- define "helpline.kafkaEnv" -}}
{{- $kafka := .root.Values.kafka }}
{{- if $kafka.security.caSecret }}
- name: HELPLINE_KAFKA_SSL_CA_FILE
  value: {{ include "helpline.kafkaCaDir" . }}/{{ $kafka.security.caKey }}
{{- end }}
{{- if and $kafka.users.create (eq $kafka.users.authentication "scram-sha-512") }}
- name: HELPLINE_KAFKA_SASL_USERNAME
  value: {{ include "helpline.kafkaUser" . }}
- name: HELPLINE_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "helpline.kafkaUser" . }}
      key: password
{{- end }}
{{- if and $kafka.users.create (eq $kafka.users.authentication "tls") }}
- name: HELPLINE_KAFKA_SSL_CERT_FILE
  value: {{ include "helpline.kafkaUserDir" . }}/user.crt
- name: HELPLINE_KAFKA_SSL_KEY_FILE
  value: {{ include "helpline.kafkaUserDir" . }}/user.key
{{- end }}
{{- end -}}

{{/* Volume mounts and volumes of the CA and of a tls user's certificate. */}}
{{- define "helpline.kafkaVolumeMounts" -}}
{{- $kafka := .root.Values.kafka }}
{{- if $kafka.security.caSecret }}
- name: kafka-ca
  mountPath: {{ include "helpline.kafkaCaDir" . }}
  readOnly: true
{{- end }}
{{- if and $kafka.users.create (eq $kafka.users.authentication "tls") }}
- name: kafka-user
  mountPath: {{ include "helpline.kafkaUserDir" . }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "helpline.kafkaVolumes" -}}
{{- $kafka := .root.Values.kafka }}
{{- if $kafka.security.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ $kafka.security.caSecret }}
    items:
      - key: {{ $kafka.security.caKey }}
        path: {{ $kafka.security.caKey }}
{{- end }}
{{- if and $kafka.users.create (eq $kafka.users.authentication "tls") }}
- name: kafka-user
  secret:
    secretName: {{ include "helpline.kafkaUser" . }}
    items:
      - {key: user.crt, path: user.crt}
      - {key: user.key, path: user.key}
{{- end }}
{{- end -}}

{{/* KEDA's name of a SASL mechanism: SCRAM-SHA-512 -> scram_sha512, PLAIN -> plaintext. */}}
{{- define "helpline.kedaSasl" -}}
{{- $mechanism := .Values.kafka.security.saslMechanism -}}
{{- if eq $mechanism "PLAIN" -}}plaintext{{- else -}}{{ $mechanism | lower | replace "-" "_" | replace "sha_" "sha" }}{{- end -}}
{{- end -}}

{{/* "true" when a service keeps a database (services.NAME.database, default true), else
empty; call with (dict "root" $ "name" "intake"). */}}
{{- define "helpline.hasDatabase" -}}
{{- $svc := get .root.Values.services .name -}}
{{- if or (not (hasKey $svc "database")) $svc.database -}}true{{- end -}}
{{- end -}}

{{/* Environment of a service container; call with (dict "root" $ "name" "intake"). */}}
{{- define "helpline.env" -}}
{{- if include "helpline.hasDatabase" . }}
- name: HELPLINE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.database.existingSecret }}
      key: {{ get .root.Values.database.urlKeys .name | default (printf "%s-url" .name) }}
{{- end }}
{{- $auth := .root.Values.auth }}
{{- $issuer := $auth.issuer | default (include "helpline.url" (dict "root" .root "name" "identity")) }}
{{- if eq .name "identity" }}
- name: HELPLINE_ISSUER
  value: {{ $issuer | quote }}
- name: HELPLINE_OPERATOR_KEY_SHA256
  valueFrom:
    secretKeyRef:
      name: {{ $auth.existingSecret }}
      key: {{ $auth.operatorKeySha256Key }}
{{- else }}
- name: HELPLINE_IDENTITY_ISSUER
  value: {{ $issuer | quote }}
{{- end }}
{{- with get ($auth.serviceKeys | default dict) .name }}
- name: {{ .variable }}
  valueFrom:
    secretKeyRef:
      name: {{ $auth.existingSecret }}
      key: {{ .secretKey }}
      # Made at identity once it runs (helpline service-keys create); until then the service
      # starts and only its calls with that key fail.
      optional: true
{{- end }}
{{- if and (has .name (list "intake" "notify")) $auth.replyTokenSecretKey }}
- name: HELPLINE_REPLY_TOKEN_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $auth.existingSecret }}
      key: {{ $auth.replyTokenSecretKey }}
      optional: true
{{- end }}
- name: HELPLINE_HTTP_PORT
  value: {{ (get .root.Values.services .name).httpPort | quote }}
- name: OTEL_SERVICE_NAME
  value: helpline-{{ .name }}
{{- range $callee, $variable := (get .root.Values.services .name).calls }}
- name: {{ $variable }}
  value: {{ include "helpline.url" (dict "root" $.root "name" $callee) }}
{{- end }}
{{- include "helpline.kafkaEnv" . }}
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
