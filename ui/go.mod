module github.com/proxy-manager/proxy-manager/ui

go 1.26.0
