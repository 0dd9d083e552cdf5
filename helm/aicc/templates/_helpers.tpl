{{/* Chart name, overridable. */}}
{{- define "aicc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, unless the release name already holds the chart name. */}}
{{- define "aicc.fullname" -}}
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

{{- define "aicc.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object (the recommended app.kubernetes.io set and helm.sh/chart). */}}
{{- define "aicc.labels" -}}
helm.sh/chart: {{ include "aicc.chart" . }}
{{ include "aicc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aicc
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "aicc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aicc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels and selector of one component: pass (dict "ctx" $ "component" "scheduler"). */}}
{{- define "aicc.componentLabels" -}}
{{ include "aicc.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "aicc.componentSelector" -}}
{{ include "aicc.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "aicc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "aicc.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "aicc.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The Secret and key holding the admin token. */}}
{{- define "aicc.adminTokenSecret" -}}
{{- .Values.adminToken.existingSecret | default (printf "%s-admin-token" (include "aicc.fullname" .)) }}
{{- end }}

{{- define "aicc.adminTokenKey" -}}
{{- if .Values.adminToken.existingSecret }}{{ .Values.adminToken.existingSecretKey }}{{ else }}token{{ end }}
{{- end }}

{{/* The database: "url" (external, in a Secret), "bundled" or "sqlite". */}}
{{- define "aicc.databaseMode" -}}
{{- if .Values.postgresql.enabled }}bundled
{{- else if or .Values.database.url .Values.database.existingSecret }}url
{{- else }}sqlite
{{- end }}
{{- end }}

{{/* "true" when the store is PostgreSQL (bundled, or an external URL / existing Secret that is
not SQLite): replicas may then elect a leader (aicc serve --ha). */}}
{{- define "aicc.onPostgres" -}}
{{- $db := include "aicc.databaseMode" . -}}
{{- if or (eq $db "bundled") (and (eq $db "url") (not (hasPrefix "sqlite" .Values.database.url))) }}true{{ end }}
{{- end }}

{{- define "aicc.databaseSecret" -}}
{{- .Values.database.existingSecret | default (printf "%s-database" (include "aicc.fullname" .)) }}
{{- end }}

{{- define "aicc.databaseKey" -}}
{{- if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}url{{ end }}
{{- end }}

{{- define "aicc.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "aicc.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "aicc.postgresql.secret" -}}
{{- .Values.postgresql.auth.existingSecret | default (include "aicc.postgresql.fullname" .) }}
{{- end }}

{{/* The center file: .Values.center.file with .Values.tenants, when given, in place of its tenants. */}}
{{- define "aicc.centerFile" -}}
{{- $center := deepCopy .Values.center.file }}
{{- if .Values.tenants }}
{{- $_ := set $center "tenants" .Values.tenants }}
{{- end }}
{{- toYaml $center }}
{{- end }}

{{- define "aicc.centerConfigMap" -}}
{{- .Values.center.existingConfigMap | default (printf "%s-center" (include "aicc.fullname" .)) }}
{{- end }}

{{- define "aicc.hasCenter" -}}
{{- if or .Values.center.existingConfigMap .Values.center.file }}true{{ end }}
{{- end }}

{{- define "aicc.rayCluster.name" -}}
{{- printf "%s-ray" (include "aicc.fullname" .) | trunc 50 | trimSuffix "-" }}
{{- end }}

{{/* RAY_ADDRESS (the GCS, host:port): the value given, else the bundled RayCluster's head service. */}}
{{- define "aicc.rayAddress" -}}
{{- if .Values.ray.address }}
{{- .Values.ray.address }}
{{- else if .Values.ray.cluster.enabled }}
{{- printf "%s-head-svc.%s.svc:6379" (include "aicc.rayCluster.name" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{/* The executor `aicc serve` runs: kuberay when ray.perJob, else the value. */}}
{{- define "aicc.executor" -}}
{{- if .Values.ray.perJob }}kuberay{{ else }}{{ .Values.executor }}{{ end }}
{{- end }}

{{/* A local zero-resource Ray node in the aicc container: executor ray, attached, asked for. */}}
{{- define "aicc.rayLocalNode" -}}
{{- if and (eq (include "aicc.executor" .) "ray") .Values.ray.localNode (include "aicc.rayAddress" .) }}true{{ end }}
{{- end }}

{{/* RAY_DASHBOARD_ADDRESS (Job Submission API): the value given, else the bundled head's. */}}
{{- define "aicc.rayDashboard" -}}
{{- if .Values.ray.dashboardAddress }}
{{- .Values.ray.dashboardAddress }}
{{- else if and .Values.ray.cluster.enabled (not .Values.ray.address) }}
{{- printf "http://%s-head-svc.%s.svc:8265" (include "aicc.rayCluster.name" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{/* Ray token auth: on when asked and aicc talks to a Ray cluster. */}}
{{- define "aicc.rayAuth" -}}
{{- if and .Values.ray.auth.enabled (or .Values.ray.cluster.enabled .Values.ray.address) }}true{{ end }}
{{- end }}

{{- define "aicc.rayAuthSecret" -}}
{{- .Values.ray.auth.existingSecret | default (printf "%s-ray-auth" (include "aicc.fullname" .)) }}
{{- end }}

{{- define "aicc.rayAuthKey" -}}
{{- if .Values.ray.auth.existingSecret }}{{ .Values.ray.auth.existingSecretKey }}{{ else }}token{{ end }}
{{- end }}

{{/* The env of every Ray container and of aicc itself. */}}
{{- define "aicc.rayAuthEnv" -}}
{{- if include "aicc.rayAuth" . }}
- name: RAY_AUTH_MODE
  value: token
- name: RAY_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "aicc.rayAuthSecret" . }}
      key: {{ include "aicc.rayAuthKey" . }}
{{- end }}
{{- end }}
