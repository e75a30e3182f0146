package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// maxDrain bounds what is read of a successful answer to reuse the
// connection.
const maxDrain = 64 << 10

// Post sends body with the given headers. A 2xx answer is success; any other
// goes to reject, which reads it and says whether a retry can help. Client
// errors leave the URL out (a webhook's URL may carry a token) and are
// retried.
func Post(ctx context.Context, client *http.Client, endpoint string, header http.Header, body []byte, reject func(*http.Response) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return Permanent(withoutURL(err))
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return withoutURL(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return reject(resp)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	return nil
}

func withoutURL(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return fmt.Errorf("%s: %w", uerr.Op, uerr.Err)
	}
	return err
}
