module github.com/proxy-manager/proxy-manager/dataplane

go 1.26

replace (
	github.com/proxy-manager/proxy-manager/pkg => ../pkg
	github.com/proxy-manager/proxy-manager/ui => ../ui
)
