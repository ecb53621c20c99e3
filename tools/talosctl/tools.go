//go:build tools

package tools

import _ "github.com/siderolabs/talos/cmd/talosctl"
