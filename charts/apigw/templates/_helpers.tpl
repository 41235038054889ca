{{/* The release's resource name prefix. */}}
{{- define "apigw.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "apigw.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/part-of: apigw
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* An image reference: (dict "root" $ "name" "apigw-operator"). */}}
{{- define "apigw.image" -}}
{{- printf "%s/%s:%s" .root.Values.image.registry .name (default .root.Chart.AppVersion .root.Values.image.tag) -}}
{{- end -}}

{{/* The restricted pod security context both binaries run with. */}}
{{- define "apigw.podSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "apigw.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
{{- end -}}

{{/* Gateway settings of one instance: the `gateway` defaults overlaid with the instance entry. */}}
{{- define "apigw.gatewaySettings" -}}
{{- $settings := deepCopy .root.Values.gateway -}}
{{- $settings = mergeOverwrite $settings (omit .instance "name") -}}
{{- toYaml $settings -}}
{{- end -}}

{{/* The selector labels of an instance's gateway pods. */}}
{{- define "apigw.gatewaySelector" -}}
app.kubernetes.io/name: apigw-gateway
app.kubernetes.io/instance: {{ .root.Release.Name }}
apigw.io/instance: {{ .name }}
{{- end -}}
