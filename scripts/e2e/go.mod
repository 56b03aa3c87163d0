module github.com/proxy-manager/proxy-manager/scripts/e2e

go 1.26

replace (
	github.com/proxy-manager/proxy-manager/controlplane => ../../controlplane
	github.com/proxy-manager/proxy-manager/dataplane => ../../dataplane
	github.com/proxy-manager/proxy-manager/pkg => ../../pkg
	github.com/proxy-manager/proxy-manager/ui => ../../ui
)
