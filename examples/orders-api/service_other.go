//go:build !windows

package main

// runAsService: there is no Service Control Manager here, so the program always runs as a console
// program (this is how `go test` runs the handlers on Linux).
func runAsService(config) (bool, error) { return false, nil }
