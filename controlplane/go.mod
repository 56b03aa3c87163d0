module github.com/proxy-manager/proxy-manager/controlplane

go 1.26

replace (
	github.com/proxy-manager/proxy-manager/pkg => ../pkg
	github.com/proxy-manager/proxy-manager/ui => ../ui
)
