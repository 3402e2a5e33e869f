{{/*
Names and labels shared by the templates. Object names start with the release name, the way
rbac.yaml and serviceaccount.yaml name theirs (<release>-operator).
*/}}

{{/* helm.sh/chart: name-version, usable as a label value. */}}
{{- define "autoclint.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every object of the release carries. */}}
{{- define "autoclint.commonLabels" -}}
helm.sh/chart: {{ include "autoclint.chart" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: autoclint
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* The operator: name, selector and labels. */}}
{{- define "autoclint.operator.name" -}}
{{- printf "%s-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "autoclint.operator.selectorLabels" -}}
app.kubernetes.io/name: autoclint-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "autoclint.operator.labels" -}}
{{ include "autoclint.commonLabels" . }}
app.kubernetes.io/name: autoclint-operator
app.kubernetes.io/component: operator
{{- end -}}

{{/* The ServiceAccount the operator runs as (the same expression serviceaccount.yaml uses). */}}
{{- define "autoclint.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default (printf "%s-operator" .Release.Name) -}}
{{- end -}}

{{/* NATS: name, selector and labels. */}}
{{- define "autoclint.nats.name" -}}
{{- printf "%s-nats" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* The bundled NATS in JWT mode (nats.auth.enabled, no nats.url): "true" or "". */ -}}
{{- define "autoclint.nats.jwt" -}}
{{- if and (not .Values.nats.url) .Values.nats.auth.enabled }}true{{ end -}}
{{- end -}}

{{- define "autoclint.nats.authoritySecret" -}}
{{- printf "%s-nats-authority" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "autoclint.nats.authConfigMap" -}}
{{- printf "%s-nats-auth" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "autoclint.nats.selectorLabels" -}}
app.kubernetes.io/name: autoclint-nats
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "autoclint.nats.labels" -}}
{{ include "autoclint.commonLabels" . }}
app.kubernetes.io/name: autoclint-nats
app.kubernetes.io/component: event-bus
{{- end -}}

{{/* The NATS URL the operator uses: nats.url, else the bundled server's Service. */}}
{{- define "autoclint.nats.url" -}}
{{- if .Values.nats.url -}}
{{- .Values.nats.url -}}
{{- else -}}
{{- printf "nats://%s.%s.svc.%s:%d" (include "autoclint.nats.name" .) .Release.Namespace .Values.clusterDomain (int .Values.nats.service.port) -}}
{{- end -}}
{{- end -}}

{{/* The NATS URL trainer pods use (they run in users' namespaces, so a fully qualified name). */}}
{{- define "autoclint.nats.trainerUrl" -}}
{{- .Values.nats.trainerUrl | default (include "autoclint.nats.url" .) -}}
{{- end -}}

{{/* An image reference: repository, then @digest when set, else :tag (default: the chart's appVersion). */}}
{{- define "autoclint.image" -}}
{{- $image := index . 0 -}}
{{- $root := index . 1 -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository ($image.tag | default $root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* True ("true") when the Prometheus Operator's CRDs are served by the cluster (or passed with --api-versions). */}}
{{- define "autoclint.monitoringApi" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" -}}true{{- end -}}
{{- end -}}
