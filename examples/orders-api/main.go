// Command orders-api is the example Go service of the gowin.server Ansible collection: a small
// in-memory orders API, standard library only, that runs as a Windows service (it talks to the
// Service Control Manager itself, see service_windows.go) or as a console program.
//
//	GET  /healthz       200 "ok" (text/plain): what the health check of gowin.server.win_service_go probes
//	GET  /orders        the orders, oldest first, as a JSON array
//	POST /orders        {"item": "...", "quantity": N} creates an order: 201, its JSON and a Location header
//	GET  /orders/{id}   one order, or 404
//
// The listen address is, first to last: the -addr flag, the ORDERS_ADDR environment variable, the
// "listen" address of the build's gowin-winsim-behaviour marker (below), 127.0.0.1:8080. Logs go to
// stderr. Under the SCM a stop (or a system shutdown) ends it gracefully: requests in flight get
// -shutdown-timeout to finish. As a console program (-console, or whenever it was not started by the
// SCM) Ctrl+C does the same.
//
// The marker: gowin.server's simulated Windows hosts (the winsim connection plugin) cannot run a
// Windows program, so they decide how a binary behaves as a service from bytes it carries, set at
// build time:
//
//	GOOS=windows GOARCH=amd64 go build -ldflags='-X main.behaviour=gowin-winsim-behaviour:{"listen":"0.0.0.0:8080"}'
//
// That says "once running, it answers GET /healthz on 0.0.0.0:8080 with 200 ok". This program reads
// the same marker and listens where it says unless -addr or ORDERS_ADDR says otherwise, so the
// marker tells the truth about the program as deployed with its default address.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// serviceName is the name the program registers its control handler under (the SCM ignores it for a
// service that runs in its own process, which is how gowin.server.win_service_go registers it).
const serviceName = "orders-api"

// builtinAddr is the listen address when neither -addr, ORDERS_ADDR nor a marker says one.
const builtinAddr = "127.0.0.1:8080"

// behaviour is set with -ldflags -X (see the package comment); empty in a plain build.
var behaviour string

const behaviourMarker = "gowin-winsim-behaviour:"

type config struct {
	addr            string
	console         bool
	shutdownTimeout time.Duration
}

// markerAddr is the "listen" address of the build's behaviour marker, or "".
func markerAddr(marker string) string {
	if !strings.HasPrefix(marker, behaviourMarker) {
		return ""
	}
	var spec struct {
		Listen string `json:"listen"`
	}
	if err := json.Unmarshal([]byte(marker[len(behaviourMarker):]), &spec); err != nil {
		return ""
	}
	return spec.Listen
}

// parseConfig reads the command line and the environment (getenv) into a config.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	def := builtinAddr
	if m := markerAddr(behaviour); m != "" {
		def = m
	}
	if env := strings.TrimSpace(getenv("ORDERS_ADDR")); env != "" {
		def = env
	}
	fs := flag.NewFlagSet("orders-api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.StringVar(&cfg.addr, "addr", def, "listen address host:port (default from ORDERS_ADDR, then the build's marker, then "+builtinAddr+")")
	fs.BoolVar(&cfg.console, "console", false, "run as a console program even if the Service Control Manager started it")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long requests in flight may take to finish on stop")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	host, port, err := net.SplitHostPort(cfg.addr)
	if err != nil {
		return config{}, fmt.Errorf("listen address %q: %v", cfg.addr, err)
	}
	if port == "" || strings.ContainsAny(host, "/ ") {
		return config{}, fmt.Errorf("listen address %q: want host:port", cfg.addr)
	}
	if cfg.shutdownTimeout <= 0 {
		return config{}, fmt.Errorf("-shutdown-timeout must be positive, got %s", cfg.shutdownTimeout)
	}
	return cfg, nil
}

// serve listens on cfg.addr and serves handler until ctx is done, then shuts down gracefully: no new
// connections, and requests in flight get cfg.shutdownTimeout to finish. ready, when not nil, is
// called with the address once the listener is open. It returns nil after a clean shutdown.
func serve(ctx context.Context, cfg config, handler http.Handler, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.Default(),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Printf("listening on %s", ln.Addr())
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Printf("shutting down: requests in flight have %s to finish", cfg.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Printf("stopped")
	return nil
}

// newHandler is the whole HTTP surface: the API and a log line per request.
func newHandler() http.Handler {
	return logRequests(newAPI(time.Now).routes())
}

func main() {
	log.SetOutput(os.Stderr)
	log.SetFlags(log.LstdFlags | log.LUTC)
	log.SetPrefix("orders-api: ")
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		log.Print(err)
		os.Exit(2)
	}
	if !cfg.console {
		// Started by the SCM: runs until the service is stopped. Not started by it: false, run below.
		underSCM, err := runAsService(cfg)
		if underSCM {
			if err != nil {
				log.Print(err)
				os.Exit(1)
			}
			return
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, newHandler(), nil); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}
