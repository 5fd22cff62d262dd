package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	log.SetOutput(io.Discard) // the request log would drown the test output
	os.Exit(m.Run())
}

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(logRequests(newAPI(func() time.Time { return fixedNow }).routes()))
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url, contentType, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(data)
}

func wantStatus(t *testing.T, resp *http.Response, body string, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %q", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
}

// wantError checks a JSON error answer: the status, the content type and a message containing want.
func wantError(t *testing.T, resp *http.Response, body string, status int, want string) {
	t.Helper()
	wantStatus(t, resp, body, status)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error content type %q, want application/json", ct)
	}
	var e map[string]string
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	if !strings.Contains(e["error"], want) {
		t.Fatalf("error %q does not say %q", e["error"], want)
	}
}

func TestHealthzAnswersOK(t *testing.T) {
	srv := newTestServer(t)
	resp, body := do(t, http.MethodGet, srv.URL+"/healthz", "", "")
	wantStatus(t, resp, body, http.StatusOK)
	// exactly what the winsim marker promises: health_status 200, health_body "ok"
	if body != "ok" {
		t.Fatalf("body %q, want %q", body, "ok")
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content type %q", ct)
	}
	resp, body = do(t, http.MethodHead, srv.URL+"/healthz", "", "")
	wantStatus(t, resp, body, http.StatusOK)
	resp, body = do(t, http.MethodPost, srv.URL+"/healthz", "", "")
	wantError(t, resp, body, http.StatusMethodNotAllowed, "POST")
	if allow := resp.Header.Get("Allow"); allow != "GET, HEAD" {
		t.Fatalf("Allow %q", allow)
	}
}

func TestOrdersStartsEmptyAsAJSONArray(t *testing.T) {
	srv := newTestServer(t)
	resp, body := do(t, http.MethodGet, srv.URL+"/orders", "", "")
	wantStatus(t, resp, body, http.StatusOK)
	if strings.TrimSpace(body) != "[]" {
		t.Fatalf("body %q, want []", body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
}

func TestCreateThenReadOrders(t *testing.T) {
	srv := newTestServer(t)
	resp, body := do(t, http.MethodPost, srv.URL+"/orders", "application/json; charset=utf-8", `{"item": "  widget ", "quantity": 3}`)
	wantStatus(t, resp, body, http.StatusCreated)
	if loc := resp.Header.Get("Location"); loc != "/orders/1" {
		t.Fatalf("Location %q, want /orders/1", loc)
	}
	var created Order
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	want := Order{ID: 1, Item: "widget", Quantity: 3, CreatedAt: fixedNow.UTC()}
	if created != want {
		t.Fatalf("created %+v, want %+v", created, want)
	}
	if !strings.Contains(body, `"created_at":"2026-03-01T11:00:00Z"`) {
		t.Fatalf("created_at is not UTC RFC 3339: %s", body)
	}
	resp, body = do(t, http.MethodPost, srv.URL+"/orders", "application/json", `{"item":"gadget","quantity":1}`)
	wantStatus(t, resp, body, http.StatusCreated)

	resp, body = do(t, http.MethodGet, srv.URL+"/orders", "", "")
	wantStatus(t, resp, body, http.StatusOK)
	var all []Order
	if err := json.Unmarshal([]byte(body), &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID != 1 || all[0].Item != "widget" || all[1].ID != 2 || all[1].Item != "gadget" {
		t.Fatalf("orders %+v", all)
	}

	resp, body = do(t, http.MethodGet, srv.URL+"/orders/2", "", "")
	wantStatus(t, resp, body, http.StatusOK)
	var one Order
	if err := json.Unmarshal([]byte(body), &one); err != nil {
		t.Fatal(err)
	}
	if one.ID != 2 || one.Item != "gadget" || one.Quantity != 1 {
		t.Fatalf("order 2 %+v", one)
	}
}

func TestUnknownOrdersAre404(t *testing.T) {
	srv := newTestServer(t)
	for _, path := range []string{"/orders/1", "/orders/0", "/orders/-1", "/orders/01", "/orders/abc", "/orders/1/x", "/nothing"} {
		resp, body := do(t, http.MethodGet, srv.URL+path, "", "")
		wantError(t, resp, body, http.StatusNotFound, "no such")
	}
}

func TestBadOrdersAreRefusedAndNothingIsStored(t *testing.T) {
	srv := newTestServer(t)
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		want                    string
	}{
		{"no content type", "", `{"item":"a","quantity":1}`, http.StatusUnsupportedMediaType, "application/json"},
		{"form", "application/x-www-form-urlencoded", "item=a&quantity=1", http.StatusUnsupportedMediaType, "application/json"},
		{"not JSON", "application/json", `{"item":`, http.StatusBadRequest, "not an order"},
		{"an array", "application/json", `[1]`, http.StatusBadRequest, "not an order"},
		{"unknown field", "application/json", `{"item":"a","quantity":1,"price":3}`, http.StatusBadRequest, "price"},
		{"two objects", "application/json", `{"item":"a","quantity":1}{"item":"b","quantity":1}`, http.StatusBadRequest, "nothing after it"},
		{"no item", "application/json", `{"quantity":1}`, http.StatusBadRequest, "item is required"},
		{"blank item", "application/json", `{"item":"   ","quantity":1}`, http.StatusBadRequest, "item is required"},
		{"long item", "application/json", `{"item":"` + strings.Repeat("é", maxItemLen+1) + `","quantity":1}`, http.StatusBadRequest, "at most 200"},
		{"no quantity", "application/json", `{"item":"a"}`, http.StatusBadRequest, "quantity"},
		{"negative quantity", "application/json", `{"item":"a","quantity":-2}`, http.StatusBadRequest, "got -2"},
		{"huge quantity", "application/json", `{"item":"a","quantity":10001}`, http.StatusBadRequest, "from 1 to 10000"},
		{"fractional quantity", "application/json", `{"item":"a","quantity":1.5}`, http.StatusBadRequest, "not an order"},
		{"too large", "application/json", `{"item":"` + strings.Repeat("x", maxBody) + `","quantity":1}`, http.StatusRequestEntityTooLarge, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, http.MethodPost, srv.URL+"/orders", tc.contentType, tc.body)
			wantError(t, resp, body, tc.status, tc.want)
		})
	}
	resp, body := do(t, http.MethodGet, srv.URL+"/orders", "", "")
	wantStatus(t, resp, body, http.StatusOK)
	if strings.TrimSpace(body) != "[]" {
		t.Fatalf("a refused order was stored: %s", body)
	}
}

func TestMethodsNotAllowed(t *testing.T) {
	srv := newTestServer(t)
	resp, body := do(t, http.MethodDelete, srv.URL+"/orders", "", "")
	wantError(t, resp, body, http.StatusMethodNotAllowed, "DELETE")
	if allow := resp.Header.Get("Allow"); allow != "GET, HEAD, POST" {
		t.Fatalf("Allow %q", allow)
	}
	resp, body = do(t, http.MethodPut, srv.URL+"/orders/1", "application/json", `{}`)
	wantError(t, resp, body, http.StatusMethodNotAllowed, "PUT")
}

func TestConcurrentCreatesGetDistinctIDs(t *testing.T) {
	srv := newTestServer(t)
	const n = 50
	var wg sync.WaitGroup
	ids := make(chan int64, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, err := http.Post(srv.URL+"/orders", "application/json", strings.NewReader(fmt.Sprintf(`{"item":"w%d","quantity":1}`, i)))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var o Order
			if err := json.NewDecoder(resp.Body).Decode(&o); err != nil || resp.StatusCode != http.StatusCreated {
				t.Errorf("status %d, %v", resp.StatusCode, err)
				return
			}
			ids <- o.ID
		}(i)
	}
	wg.Wait()
	close(ids)
	seen := map[int64]bool{}
	for id := range ids {
		if seen[id] || id < 1 || id > n {
			t.Fatalf("id %d repeated or out of range", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Fatalf("%d ids, want %d", len(seen), n)
	}
}

func TestListenAddressPrecedence(t *testing.T) {
	saved := behaviour
	t.Cleanup(func() { behaviour = saved })
	env := func(v string) func(string) string {
		return func(name string) string {
			if name == "ORDERS_ADDR" {
				return v
			}
			return ""
		}
	}
	for _, tc := range []struct {
		marker, env string
		args        []string
		want        string
	}{
		{"", "", nil, "127.0.0.1:8080"},
		{`gowin-winsim-behaviour:{"listen":"0.0.0.0:8080"}`, "", nil, "0.0.0.0:8080"},
		{`gowin-winsim-behaviour:{"listen":"0.0.0.0:8080"}`, "127.0.0.1:9000", nil, "127.0.0.1:9000"},
		{`gowin-winsim-behaviour:{"listen":"0.0.0.0:8080"}`, "127.0.0.1:9000", []string{"-addr", "[::1]:9001"}, "[::1]:9001"},
		{`gowin-winsim-behaviour:not json`, "", nil, "127.0.0.1:8080"},
		{`something else`, "", nil, "127.0.0.1:8080"},
	} {
		behaviour = tc.marker
		cfg, err := parseConfig(tc.args, env(tc.env), io.Discard)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if cfg.addr != tc.want {
			t.Fatalf("%+v: addr %q, want %q", tc, cfg.addr, tc.want)
		}
	}
}

func TestBadConfigIsRefused(t *testing.T) {
	none := func(string) string { return "" }
	for _, args := range [][]string{{"-addr", "8080"}, {"-addr", "localhost:"}, {"-shutdown-timeout", "0s"}, {"extra"}, {"-nope"}} {
		if _, err := parseConfig(args, none, io.Discard); err == nil {
			t.Fatalf("%q accepted", args)
		}
	}
	if _, err := parseConfig(nil, func(string) string { return "not-an-address" }, io.Discard); err == nil {
		t.Fatal("a bad ORDERS_ADDR was accepted")
	}
}

// A stop (the context ending) lets a request in flight finish, then serve returns nil.
func TestServeShutsDownGracefully(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("/", newAPI(time.Now).routes())
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() {
		served <- serve(ctx, config{addr: "127.0.0.1:0", shutdownTimeout: 5 * time.Second}, mux, func(a net.Addr) { addrc <- a })
	}()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a.String()
	case err := <-served:
		t.Fatalf("serve: %v", err)
	}
	resp, body := do(t, http.MethodGet, base+"/healthz", "", "")
	wantStatus(t, resp, body, http.StatusOK)

	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			slow <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		slow <- string(data)
	}()
	<-entered
	cancel()
	select {
	case err := <-served:
		t.Fatalf("serve returned (%v) while a request was in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		t.Fatal("the listener still takes new connections during the shutdown")
	}
	close(release)
	if got := <-slow; got != "done" {
		t.Fatalf("the request in flight got %q", got)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return after the shutdown")
	}
}

func TestServeReportsAPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = serve(context.Background(), config{addr: ln.Addr().String(), shutdownTimeout: time.Second}, http.NotFoundHandler(), nil)
	if err == nil {
		t.Fatal("serve on a port in use returned nil")
	}
}
