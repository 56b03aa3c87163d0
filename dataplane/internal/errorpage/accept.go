package errorpage

import "strings"

// PrefersJSON reports whether an Accept header asks for application/json over text/html.
// Each type gets the quality of the most specific media range that matches it (RFC 9110,
// 12.5.1); JSON wins with a higher quality, or with an equal one when it was named more
// specifically ("application/json, */*" from API clients). Everything else, including an
// absent or unparsable header, gets HTML.
func PrefersJSON(accept string) bool {
	if accept == "" {
		return false
	}
	jsonQ, jsonSpec := quality(accept, "application", "json")
	htmlQ, htmlSpec := quality(accept, "text", "html")
	if jsonQ == 0 {
		return false
	}
	return jsonQ > htmlQ || (jsonQ == htmlQ && jsonSpec > htmlSpec)
}

// quality returns the q-value (in thousandths) the header gives typ/sub, and how specifically it matched:
// 3 for "typ/sub", 2 for "typ/*", 1 for "*/*", 0 for no match (quality 0).
func quality(accept, typ, sub string) (q, specificity int) {
	for r := range strings.SplitSeq(accept, ",") {
		mediaRange, params, _ := strings.Cut(r, ";")
		t, s, ok := strings.Cut(strings.TrimSpace(mediaRange), "/")
		if !ok {
			continue
		}
		spec := 0
		switch {
		case strings.EqualFold(t, typ) && strings.EqualFold(s, sub):
			spec = 3
		case strings.EqualFold(t, typ) && s == "*":
			spec = 2
		case t == "*" && s == "*":
			spec = 1
		}
		if spec <= specificity {
			continue
		}
		rq, ok := parseQ(params)
		if !ok {
			continue
		}
		q, specificity = rq, spec
	}
	return q, specificity
}

// parseQ finds the q parameter among a media range's parameters ("level=1;q=0.5") and returns
// it in thousandths. A missing q means 1000; one that is not a qvalue of RFC 9110 ("0" to "1"
// with at most three decimals) makes the range invalid.
func parseQ(params string) (int, bool) {
	for p := range strings.SplitSeq(params, ";") {
		name, value, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(name), "q") {
			return parseQValue(strings.TrimSpace(value))
		}
	}
	return 1000, true
}

func parseQValue(v string) (int, bool) {
	if v == "" || (v[0] != '0' && v[0] != '1') {
		return 0, false
	}
	q := int(v[0]-'0') * 1000
	if len(v) == 1 {
		return q, true
	}
	frac := v[1:]
	if frac[0] != '.' || len(frac) > 4 {
		return 0, false
	}
	scale := 100
	for i := 1; i < len(frac); i++ {
		c := frac[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	if q > 1000 {
		return 0, false
	}
	return q, true
}
