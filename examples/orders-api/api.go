package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Order is one order as the API returns it.
type Order struct {
	ID        int64     `json:"id"`
	Item      string    `json:"item"`
	Quantity  int       `json:"quantity"`
	CreatedAt time.Time `json:"created_at"`
}

// orderRequest is the body of POST /orders.
type orderRequest struct {
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
}

const (
	maxBody     = 64 << 10 // bytes of a POST body
	maxItemLen  = 200      // characters of an item name
	maxQuantity = 10000
	maxOrders   = 100000 // the store is memory: it refuses more than this
)

// store holds the orders in memory, oldest first; safe for concurrent use.
type store struct {
	mu     sync.Mutex
	nextID int64
	orders []Order
}

var errFull = errors.New("the order store is full")

func (s *store) add(item string, quantity int, at time.Time) (Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.orders) >= maxOrders {
		return Order{}, errFull
	}
	s.nextID++
	o := Order{ID: s.nextID, Item: item, Quantity: quantity, CreatedAt: at.UTC()}
	s.orders = append(s.orders, o)
	return o, nil
}

func (s *store) list() []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Order, len(s.orders)) // never nil: an empty list is [] in JSON
	copy(out, s.orders)
	return out
}

func (s *store) get(id int64) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// IDs are handed out in order and never removed, so the order with ID n is at n-1.
	if id < 1 || id > int64(len(s.orders)) {
		return Order{}, false
	}
	return s.orders[id-1], true
}

type api struct {
	store *store
	now   func() time.Time
}

func newAPI(now func() time.Time) *api {
	return &api{store: &store{}, now: now}
}

func (a *api) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", a.healthz)
	mux.HandleFunc("/orders", a.orders)
	mux.HandleFunc("/orders/", a.order)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such resource: %s", r.URL.Path)
	})
	return mux
}

// healthz answers 200 "ok": the process is up and serving HTTP.
func (a *api) healthz(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, "ok")
	}
}

func (a *api) orders(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		writeJSON(w, http.StatusOK, a.store.list())
	case http.MethodPost:
		a.create(w, r)
	default:
		allow(w, r, http.MethodGet, http.MethodHead, http.MethodPost)
	}
}

func (a *api) create(w http.ResponseWriter, r *http.Request) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "the body must be application/json")
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	var req orderRequest
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", maxBody)
			return
		}
		writeError(w, http.StatusBadRequest, "the body is not an order: %v", err)
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, "the body must hold one JSON object and nothing after it")
		return
	}
	req.Item = strings.TrimSpace(req.Item)
	switch {
	case req.Item == "":
		writeError(w, http.StatusBadRequest, "item is required")
		return
	case utf8.RuneCountInString(req.Item) > maxItemLen:
		writeError(w, http.StatusBadRequest, "item must be at most %d characters", maxItemLen)
		return
	case req.Quantity < 1 || req.Quantity > maxQuantity:
		writeError(w, http.StatusBadRequest, "quantity must be a whole number from 1 to %d, got %d", maxQuantity, req.Quantity)
		return
	}
	o, err := a.store.add(req.Item, req.Quantity, a.now())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	w.Header().Set("Location", "/orders/"+strconv.FormatInt(o.ID, 10))
	writeJSON(w, http.StatusCreated, o)
}

func (a *api) order(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, "/orders/")
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || id < 1 || strconv.FormatInt(id, 10) != rest {
		writeError(w, http.StatusNotFound, "no such order: %q", rest)
		return
	}
	o, ok := a.store.get(id)
	if !ok {
		writeError(w, http.StatusNotFound, "no such order: %d", id)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// allow answers 405 with an Allow header unless r's method is one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, "method %s is not allowed here", r.Method)
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		log.Printf("encoding a response: %v", err)
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// statusRecorder remembers the status a handler wrote, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// logRequests writes one line per request to the log (stderr).
func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.Printf("%s %s %d %s %s", r.Method, r.URL.Path, rec.status, time.Since(start).Round(time.Microsecond), r.RemoteAddr)
	})
}
