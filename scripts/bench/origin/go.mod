module github.com/proxy-manager/proxy-manager/scripts/bench/origin

go 1.22
