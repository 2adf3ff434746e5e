package remote

import (
	"fmt"
	"net/url"
	"strings"
)

// Target is a model behind an Open Inference Protocol server.
type Target struct {
	// Base is scheme://host[:port] plus any path prefix before /v2
	// (gateways such as Seldon's put one there), without a trailing slash.
	Base string
	// Model is the model's name.
	Model string
	// Version is the model version, or "" for the server's default.
	Version string
}

// ParseTarget validates an inference URL and splits it into a Target. It
// accepts
//
//	http(s)://host[:port][/prefix]/v2/models/NAME/infer
//	http(s)://host[:port][/prefix]/v2/models/NAME/versions/VERSION/infer
//
// and the same without the trailing /infer. It refuses other schemes, a
// missing host, credentials in the URL (send them in a header instead, so
// that they never reach a report), queries and fragments.
func ParseTarget(raw string) (Target, error) {
	bad := func(why string) (Target, error) {
		return Target{}, fmt.Errorf("target %q: %s (want http(s)://host:port/v2/models/NAME/infer)", raw, why)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("not a URL: " + err.Error())
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return bad("the scheme must be http or https")
	}
	if u.Host == "" || u.Hostname() == "" {
		return bad("no host")
	}
	if u.User != nil {
		return bad("credentials in the URL are refused; pass them as a header")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return bad("a query or fragment is not part of an inference URL")
	}
	path := u.EscapedPath()
	k := strings.LastIndex(path, "/v2/models/")
	if k < 0 {
		return bad("the path has no /v2/models/NAME")
	}
	prefix := path[:k]
	parts := strings.Split(strings.TrimSuffix(path[k+len("/v2/models/"):], "/"), "/")
	if len(parts) > 0 && parts[len(parts)-1] == "infer" {
		parts = parts[:len(parts)-1]
	}
	t := Target{Base: u.Scheme + "://" + u.Host + prefix}
	switch {
	case len(parts) == 1:
	case len(parts) == 3 && parts[1] == "versions":
		if t.Version, err = url.PathUnescape(parts[2]); err != nil || t.Version == "" {
			return bad("bad model version")
		}
	default:
		return bad("the path after /v2/models/ must be NAME[/versions/VERSION][/infer]")
	}
	if t.Model, err = url.PathUnescape(parts[0]); err != nil || t.Model == "" {
		return bad("no model name")
	}
	return t, nil
}

// modelPath is /v2/models/NAME[/versions/VERSION] under Base.
func (t Target) modelPath() string {
	p := t.Base + "/v2/models/" + url.PathEscape(t.Model)
	if t.Version != "" {
		p += "/versions/" + url.PathEscape(t.Version)
	}
	return p
}

// InferURL returns the URL inference requests are posted to.
func (t Target) InferURL() string { return t.modelPath() + "/infer" }

// MetadataURL returns the URL of the model's metadata.
func (t Target) MetadataURL() string { return t.modelPath() }

// ReadyURL returns the URL of the server's readiness probe.
func (t Target) ReadyURL() string { return t.Base + "/v2/health/ready" }

// String returns the inference URL.
func (t Target) String() string { return t.InferURL() }
