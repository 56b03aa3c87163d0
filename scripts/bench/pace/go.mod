module github.com/proxy-manager/proxy-manager/scripts/bench/pace

go 1.22
