// Package charttest renders the ferry Helm chart with the helm v3 Go module and decodes every
// object strictly into k8s.io/api types. It is its own module so that the main module does not
// depend on helm and Kubernetes.
package charttest
