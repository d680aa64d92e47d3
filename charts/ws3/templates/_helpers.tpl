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
{{- if eq .Values.tls.source "certManager" }}
{{- /* The webhook's certificate depends on cert-manager: never stand between them. */}}
{{- $list = append $list .Values.tls.certManager.namespace }}
{{- end }}
{{- $list = concat $list (.Values.config.exemptNamespaces | default list) .Values.webhook.excludeNamespaces }}
{{- $list | uniq | toJson }}
{{- end }}

{{/*
"true" when the webhooks carry matchConditions: webhook.matchConditions.enabled true, or "auto" on
Kubernetes 1.28+ (beta and on by default in 1.28, GA in 1.30). An API server that does not know the
field drops it silently, so "auto" never sends it to an older one. Empty otherwise.
*/}}
{{- define "ws3.useMatchConditions" -}}
{{- $enabled := .Values.webhook.matchConditions.enabled }}
{{- if eq (toString $enabled) "auto" }}
{{- if semverCompare ">=1.28.0-0" .Capabilities.KubeVersion.Version }}true{{ end }}
{{- else if $enabled }}true{{ end }}
{{- end }}

{{/*
The webhook registration, as JSON: {"strict": [rules], "lenient": [rules], "reviewedKinds": [{group, kind}]}.

Source: files/registration.json, the output of `ws3-webhook registration` (the resources and
operations the built-in rules judge, the kinds they review, the operations workload rules judge),
plus webhook.extraRules and every config.podTemplates entry (its kind is reviewed; with a
`resource`, that resource is registered for the workload operations).

"strict" goes to the webhook with webhook.failurePolicy, "lenient" to one that always fails open.
With matchConditions every rule is strict: the conditions keep controllers' and lifecycle requests
away. Without them (Kubernetes < 1.28) the requests controllers and lifecycle make cannot be told
apart from people's, so these are lenient: every DELETE (the namespace controller and the garbage
collector delete; a rule's delete protection still applies while ws3 is up) and every operation on
the kinds controllers create from a reviewed template (pods, replicasets, jobs, replicationcontrollers).
*/}}
{{- define "ws3.registration" -}}
{{- $file := .Files.Get "files/registration.json" | fromJson }}
{{- if or (not $file.rules) (not $file.reviewedKinds) (not $file.workloadOperations) }}
{{- fail "files/registration.json: missing or not the JSON of `ws3-webhook registration` (needs rules, reviewedKinds, workloadOperations)" }}
{{- end }}
{{- $rules := concat $file.rules (.Values.webhook.extraRules | default list) }}
{{- $kinds := $file.reviewedKinds }}
{{- range (.Values.config.podTemplates | default list) }}
{{- $gv := splitList "/" .apiVersion }}
{{- $group := ternary "" (first $gv) (eq (len $gv) 1) }}
{{- $kinds = append $kinds (dict "group" $group "kind" .kind) }}
{{- if .resource }}
{{- $rules = append $rules (dict "apiGroups" (list $group) "apiVersions" (list (last $gv)) "resources" (list .resource) "operations" $file.workloadOperations "scope" "Namespaced") }}
{{- end }}
{{- end }}
{{- $strict := list }}
{{- $lenient := list }}
{{- if include "ws3.useMatchConditions" . }}
{{- $strict = $rules }}
{{- else }}
{{- $controllerMade := list "/pods" "/replicationcontrollers" "apps/replicasets" "batch/jobs" }}
{{- range $rule := $rules }}
{{- $scope := $rule.scope | default "*" }}
{{- $changes := without $rule.operations "DELETE" }}
{{- range $group := $rule.apiGroups }}
{{- $own := list }}
{{- $made := list }}
{{- range $resource := $rule.resources }}
{{- if has (printf "%s/%s" $group $resource) $controllerMade }}
{{- $made = append $made $resource }}
{{- else }}
{{- $own = append $own $resource }}
{{- end }}
{{- end }}
{{- if and $own $changes }}
{{- $strict = append $strict (dict "apiGroups" (list $group) "apiVersions" $rule.apiVersions "resources" $own "operations" $changes "scope" $scope) }}
{{- end }}
{{- if and $own (has "DELETE" $rule.operations) }}
{{- $lenient = append $lenient (dict "apiGroups" (list $group) "apiVersions" $rule.apiVersions "resources" $own "operations" (list "DELETE") "scope" $scope) }}
{{- end }}
{{- if $made }}
{{- $lenient = append $lenient (dict "apiGroups" (list $group) "apiVersions" $rule.apiVersions "resources" $made "operations" $rule.operations "scope" $scope) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- dict "strict" $strict "lenient" $lenient "reviewedKinds" $kinds | toJson }}
{{- end }}

{{/*
CEL of the matchCondition that skips objects a controller of a reviewed kind manages (a ReplicaSet's
Pods, a Deployment's ReplicaSets, a CronJob's Jobs): their template was judged in the owner, and ws3
skips them anyway. DELETE requests carry the object in oldObject, the others in object.
Takes the registration (from ws3.registration).
*/}}
{{- define "ws3.ownerCondition" -}}
{{- $byGroup := dict }}
{{- range .reviewedKinds }}
{{- $_ := set $byGroup .group (append (get $byGroup .group | default list) .kind) }}
{{- end }}
{{- $terms := list }}
{{- range $group := keys $byGroup | sortAlpha }}
{{- $kinds := get $byGroup $group | uniq | sortAlpha }}
{{- $quoted := list }}
{{- range $kinds }}{{ $quoted = append $quoted (printf "'%s'" .) }}{{ end }}
{{- $version := ternary "r.apiVersion == 'v1'" (printf "r.apiVersion.startsWith('%s/')" $group) (eq $group "") }}
{{- $terms = append $terms (printf "(%s && r.kind in [%s])" $version (join ", " $quoted)) }}
{{- end }}
{{- $object := "(request.operation == 'DELETE' ? oldObject : object)" -}}
!has({{ $object }}.metadata.ownerReferences) ||
!{{ $object }}.metadata.ownerReferences.exists(r,
  has(r.controller) && r.controller == true && (
    {{ join " ||\n    " $terms }}))
{{- end }}

{{/*
Checks that the values make a usable release; fails the render with a message otherwise.
*/}}
{{- define "ws3.validate" -}}
{{- /* Chart.yaml's kubeVersion says the same; not every renderer checks it (helm template without --kube-version does not). */}}
{{- if not (semverCompare ">=1.24.0-0" .Capabilities.KubeVersion.Version) }}
{{- fail (printf "Kubernetes %s is not supported: the chart needs 1.24 or later (kubeVersion >=1.24.0-0; the namespaceSelector uses the kubernetes.io/metadata.name label)" .Capabilities.KubeVersion.Version) }}
{{- end }}
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

{{/*
The webhook's review deadline (WS3_REQUEST_TIMEOUT): 80% of webhook.timeoutSeconds, in milliseconds.
*/}}
{{- define "ws3.requestTimeout" -}}
{{- printf "%dms" (mul (int .Values.webhook.timeoutSeconds) 800) }}
{{- end }}
