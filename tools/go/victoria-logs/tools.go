//go:build tools

package tools

import _ "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs"
