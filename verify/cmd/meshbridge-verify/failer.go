package main

import (
	"fmt"
	"os"
	"runtime/debug"
)

// failer is the test.Failer that Istio's fake discovery server asks for, outside `go test`: a fatal
// error stops the cluster's judgement (recovered by runJudged) and is reported as a problem.
type failer struct {
	cleanups []func()
	errors   []string
}

type fatalStop struct{}

func (f *failer) Fail()    { f.errors = append(f.errors, "failed") }
func (f *failer) FailNow() { f.Fail(); panic(fatalStop{}) }
func (f *failer) Fatal(args ...any) {
	f.errors = append(f.errors, fmt.Sprint(args...))
	panic(fatalStop{})
}
func (f *failer) Fatalf(s string, a ...any) { f.Fatal(fmt.Sprintf(s, a...)) }
func (f *failer) Log(args ...any)           {}
func (f *failer) Logf(string, ...any)       {}
func (f *failer) Helper()                   {}
func (f *failer) Cleanup(fn func())         { f.cleanups = append(f.cleanups, fn) }
func (f *failer) Skip(args ...any)          { f.Fatal(append([]any{"skipped: "}, args...)...) }
func (f *failer) TempDir() string {
	d, err := os.MkdirTemp("", "meshbridge-verify-")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// runJudged runs fn with a fresh failer and returns the fatal errors it raised.
func runJudged(fn func(f *failer)) (errs []string) {
	f := &failer{}
	defer func() {
		for i := len(f.cleanups) - 1; i >= 0; i-- {
			f.cleanups[i]()
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(fatalStop); !ok {
				f.errors = append(f.errors, fmt.Sprint("panic: ", r))
				if os.Getenv("MESHBRIDGE_VERIFY_DEBUG") != "" {
					fmt.Fprintln(os.Stderr, string(debug.Stack()))
				}
			}
		}
		errs = f.errors
	}()
	fn(f)
	return nil
}
