//go:build windows

package main

// The Service Control Manager, through advapi32 and the syscall package alone (no golang.org/x/sys):
// StartServiceCtrlDispatcherW connects the process to the SCM and calls serviceMain on a thread of
// its own; serviceMain registers the control handler, reports START_PENDING, then RUNNING once the
// listener is open, and STOPPED after a graceful shutdown. A stop or shutdown request reports
// STOP_PENDING (with a wait hint as long as the shutdown may take) and ends serve's context.

import (
	"context"
	"fmt"
	"log"
	"net"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

var (
	advapi32                          = syscall.NewLazyDLL("advapi32.dll")
	procStartServiceCtrlDispatcherW   = advapi32.NewProc("StartServiceCtrlDispatcherW")
	procRegisterServiceCtrlHandlerExW = advapi32.NewProc("RegisterServiceCtrlHandlerExW")
	procSetServiceStatus              = advapi32.NewProc("SetServiceStatus")
)

// serviceStatus is SERVICE_STATUS.
type serviceStatus struct {
	ServiceType             uint32
	CurrentState            uint32
	ControlsAccepted        uint32
	Win32ExitCode           uint32
	ServiceSpecificExitCode uint32
	CheckPoint              uint32
	WaitHint                uint32
}

// serviceTableEntry is SERVICE_TABLE_ENTRYW.
type serviceTableEntry struct {
	name *uint16
	proc uintptr
}

const (
	serviceWin32OwnProcess = 0x10

	stateStopped       = 1
	stateStartPending  = 2
	stateStopPending   = 3
	stateRunning       = 4
	acceptStop         = 0x1
	acceptShutdown     = 0x4
	controlStop        = 1
	controlInterrogate = 4
	controlShutdown    = 5

	errorCallNotImplemented             = 120
	errorServiceSpecificError           = 1066
	errorFailedServiceControllerConnect = 1063
)

// svc is the state the SCM callbacks share (they run on threads the SCM creates, so no closures).
var svc struct {
	mu         sync.Mutex
	cfg        config
	handle     uintptr
	checkPoint uint32
	stopOnce   sync.Once
	stop       chan struct{}
	err        error
}

var serviceNamePtr, _ = syscall.UTF16PtrFromString(serviceName)

// runAsService connects to the SCM and serves until the service is stopped. It returns false when
// the process was not started by the SCM (a console, a scheduled task, a test): then the caller
// runs the program as a console program.
func runAsService(cfg config) (bool, error) {
	svc.cfg = cfg
	svc.stop = make(chan struct{})
	table := []serviceTableEntry{
		{name: serviceNamePtr, proc: syscall.NewCallback(serviceMain)},
		{},
	}
	r, _, err := procStartServiceCtrlDispatcherW.Call(uintptr(unsafe.Pointer(&table[0])))
	if r == 0 {
		if errno, ok := err.(syscall.Errno); ok && errno == errorFailedServiceControllerConnect {
			return false, nil
		}
		return true, fmt.Errorf("StartServiceCtrlDispatcherW: %v", err)
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	return true, svc.err
}

func setStatus(state, win32Exit, specificExit uint32, waitHint time.Duration) {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	s := serviceStatus{
		ServiceType:             serviceWin32OwnProcess,
		CurrentState:            state,
		Win32ExitCode:           win32Exit,
		ServiceSpecificExitCode: specificExit,
		WaitHint:                uint32(waitHint / time.Millisecond),
	}
	if state == stateRunning {
		s.ControlsAccepted = acceptStop | acceptShutdown
	}
	if state == stateStartPending || state == stateStopPending {
		svc.checkPoint++
		s.CheckPoint = svc.checkPoint
	} else {
		svc.checkPoint = 0
	}
	if r, _, err := procSetServiceStatus.Call(svc.handle, uintptr(unsafe.Pointer(&s))); r == 0 {
		log.Printf("SetServiceStatus(%d): %v", state, err)
	}
}

// handler is the HandlerEx callback: it must return at once, so it only reports and signals.
func handler(control, eventType, eventData, userContext uintptr) uintptr {
	switch control {
	case controlStop, controlShutdown:
		svc.stopOnce.Do(func() {
			setStatus(stateStopPending, 0, 0, svc.cfg.shutdownTimeout+5*time.Second)
			close(svc.stop)
		})
		return 0
	case controlInterrogate:
		return 0
	}
	return errorCallNotImplemented
}

// serviceMain is the ServiceMain callback the dispatcher calls on its own thread.
func serviceMain(argc, argv uintptr) uintptr {
	h, _, err := procRegisterServiceCtrlHandlerExW.Call(uintptr(unsafe.Pointer(serviceNamePtr)), syscall.NewCallback(handler), 0)
	if h == 0 {
		svc.mu.Lock()
		svc.err = fmt.Errorf("RegisterServiceCtrlHandlerExW: %v", err)
		svc.mu.Unlock()
		return 0
	}
	svc.mu.Lock()
	svc.handle = h
	svc.mu.Unlock()
	setStatus(stateStartPending, 0, 0, 10*time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-svc.stop
		cancel()
	}()
	err = serve(ctx, svc.cfg, newHandler(), func(net.Addr) { setStatus(stateRunning, 0, 0, 0) })
	if err != nil {
		log.Print(err)
		svc.mu.Lock()
		svc.err = err
		svc.mu.Unlock()
		// the SCM records a failure (and runs the recovery actions for non-crash failures when so configured)
		setStatus(stateStopped, errorServiceSpecificError, 1, 0)
		return 0
	}
	setStatus(stateStopped, 0, 0, 0)
	return 0
}
