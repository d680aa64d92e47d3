{{/*
Chart name, truncated to 63 characters (the DNS label limit).
*/}}
{{- define "ws3.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or the release name alone when it already contains the chart name.
*/}}
{{- define "ws3.fullname" -}}
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
Chart label value.
*/}}
{{- define "ws3.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "ws3.labels" -}}
helm.sh/chart: {{ include "ws3.chart" . }}
{{ include "ws3.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: webhook
app.kubernetes.io/part-of: ws3
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels (must never change between releases: Deployment selectors are immutable).
*/}}
{{- define "ws3.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ws3.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
ServiceAccount name.
*/}}
{{- define "ws3.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ws3.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Webhook image reference.
*/}}
{{- define "ws3.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
Name of the Secret holding the serving certificate (tls.crt, tls.key).
*/}}
{{- define "ws3.tlsSecretName" -}}
{{- if eq .Values.tls.source "secret" }}
{{- required "tls.secretName is required when tls.source=secret" .Values.tls.secretName }}
{{- else }}
{{- printf "%s-tls" (include "ws3.fullname" .) }}
{{- end }}
{{- end }}

{{/*
DNS names the serving certificate must cover (the API server calls <service>.<namespace>.svc).
*/}}
{{- define "ws3.dnsNames" -}}
{{- $svc := include "ws3.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toJson }}
{{- end }}

{{/*
Namespaces the webhook never sees: the system namespaces, the release namespace (so the webhook can
always restart itself), config.exemptNamespaces and webhook.excludeNamespaces. A JSON list.
*/}}
{{- define "ws3.excludedNamespaces" -}}
{{- $list := list "kube-system" "kube-public" "kube-node-lease" .Release.Namespace }}
{{- $list = concat $list (.Values.config.exemptNamespaces | default list) .Values.webhook.excludeNamespaces }}
{{- $list | uniq | toJson }}
{{- end }}

{{/*
Checks that the values make a usable release; fails the render with a message otherwise.
*/}}
{{- define "ws3.validate" -}}
{{- if eq .Values.tls.source "secret" }}
{{- if not .Values.tls.secretName }}
{{- fail "tls.source=secret needs tls.secretName: an existing kubernetes.io/tls Secret in the release namespace" }}
{{- end }}
{{- if not .Values.tls.caBundle }}
{{- fail "tls.source=secret needs tls.caBundle: the base64-encoded PEM of the CA that signed the certificate" }}
{{- end }}
{{- end }}
{{- if and (eq .Values.webhook.failurePolicy "Fail") (lt (int .Values.replicaCount) 1) }}
{{- fail "replicaCount must be at least 1 while webhook.failurePolicy is Fail: every admission in the reviewed namespaces would be rejected" }}
{{- end }}
{{- end }}
