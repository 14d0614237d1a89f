// Package web holds FedWave's browser assets: HTML templates and the static
// CSS, JavaScript and images, embedded in the binary so that the site needs
// no CDN and no build step.
package web

import "embed"

// FS holds templates/ and static/.
//
//go:embed templates static
var FS embed.FS
