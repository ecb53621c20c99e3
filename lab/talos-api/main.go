// Command talos-api serves the Talos API of every lab machine with Talos's own gRPC services and resource types
// (github.com/siderolabs/talos/pkg/machinery), so the real talosctl v1.10.3 drives the lab as it drives real
// machines. The machines' behaviour stays in the lab's TypeScript model (lab/machine-api.ts), reached over --model.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func notSideroLink(context.Context) (netip.Addr, bool) { return netip.Addr{}, false }

func main() {
	if len(os.Args) > 1 {
		if sub, ok := subcommands[os.Args[1]]; ok {
			if err := sub(os.Args[2:]); err != nil {
				fmt.Fprintf(os.Stderr, "talos-api %s: %v\n", os.Args[1], err)
				os.Exit(1)
			}

			return
		}
	}

	modelSocket := flag.String("model", "", "unix socket of the lab's machine model")
	runDir := flag.String("run-dir", "", "directory for machined's sockets")
	interval := flag.Duration("interval", 100*time.Millisecond, "how often to ask the model which machines are up")
	flag.Parse()

	if *modelSocket == "" || *runDir == "" {
		fmt.Fprintln(os.Stderr, "talos-api: --model and --run-dir are required")
		os.Exit(2)
	}

	if err := os.MkdirAll(*runDir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "talos-api:", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	sup := &supervisor{nodes: &nodeSet{model: newModel(*modelSocket)}, runDir: *runDir, endpoints: map[string]*endpoint{}}

	fmt.Fprintf(os.Stderr, "%s talos-api: serving the lab's machines (model %s)\n", time.Now().Format(time.RFC3339), *modelSocket)

	ticker := time.NewTicker(*interval)
	defer ticker.Stop()

	for {
		if err := sup.reconcile(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "%s talos-api: %v\n", time.Now().Format(time.RFC3339), err)
		}

		select {
		case <-ctx.Done():
			sup.mu.Lock()
			for _, ep := range sup.endpoints {
				ep.stop()
			}
			sup.mu.Unlock()

			return
		case <-ticker.C:
		}
	}
}
