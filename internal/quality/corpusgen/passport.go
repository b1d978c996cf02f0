package corpusgen

import (
	"fmt"
	"strings"
	"time"

	"github.com/riskd/riskd/internal/quality"
	"github.com/riskd/riskd/internal/verifier/identity"
)

// mrzCheck is the ICAO 9303 check digit of a field.
func mrzCheck(s string) byte { return identity.MRZCheckDigit(s) }

func pad(s string, n int) string { return (s + strings.Repeat("<", n))[:n] }

// passportMRZ is the two TD3 lines of a passport, all check digits right.
func passportMRZ(state, surname, given, number string, birth, expiry time.Time, sex byte) string {
	line1 := pad("P<"+state+surname+"<<"+strings.ReplaceAll(given, " ", "<"), 44)
	num := pad(number, 9)
	b, e := birth.Format("060102"), expiry.Format("060102")
	personal := pad("", 14)
	pc := byte('<')
	body := num + string(mrzCheck(num)) + state + b + string(mrzCheck(b)) + string(sex) + e + string(mrzCheck(e)) + personal + string(pc)
	composite := num + string(mrzCheck(num)) + b + string(mrzCheck(b)) + e + string(mrzCheck(e)) + personal + string(pc)
	line2 := body + string(mrzCheck(composite))
	return line1 + "\n" + line2
}

var foreigners = []struct{ state, surname, given string }{
	{"GBR", "SMITH", "OLIVER JAMES"}, {"DEU", "MUELLER", "ANNA"}, {"JPN", "TANAKA", "HARUTO"},
	{"SGP", "TAN", "WEI LING"}, {"USA", "JOHNSON", "EMILY ROSE"}, {"KOR", "KIM", "MINJUN"},
	{"FRA", "MARTIN", "LUCAS"}, {"MYS", "LIM", "JIA HUI"},
}

func sellerPassports(g *gen) quality.File {
	f := quality.File{Family: "seller-passports", About: "Foreign private sellers identified by passport (TD3 machine-readable zone), and passports whose check digits were made up."}
	for i, fr := range foreigners {
		p := g.person("")
		birth := time.Date(g.between(1960, 1999), time.Month(g.between(1, 12)), g.between(1, 28), 0, 0, 0, 0, time.UTC)
		expiry := time.Date(g.between(2028, 2035), time.Month(g.between(1, 12)), g.between(1, 28), 0, 0, 0, 0, time.UTC)
		number := fmt.Sprintf("%c%c%07d", 'A'+byte(g.r.IntN(26)), 'A'+byte(g.r.IntN(26)), 1000000+p.n*7919%8999999)
		mrz := passportMRZ(fr.state, fr.surname, fr.given, number, birth, expiry, "MF"[g.r.IntN(2)])
		name := strings.ReplaceAll(fr.given, " ", " ") + " " + fr.surname
		req := sellerRequest(p, nil, name)
		req["identity"] = obj{"type": "IDENTITY_DOCUMENT_TYPE_PASSPORT", "mrz": mrz, "fullName": name}
		label, note := quality.Genuine, "foreign private seller with a valid passport"
		if i >= 6 {
			// A digit changed after the check digits were computed.
			lines := strings.Split(mrz, "\n")
			l2 := []byte(lines[1])
			l2[3] = '0' + (l2[3]-'0'+1)%10
			mrz = lines[0] + "\n" + string(l2)
			req["identity"].(obj)["mrz"] = mrz
			label, note = quality.Fraud, "passport number altered: its check digit no longer holds"
		} else if _, err := identity.ParseMRZText(mrz, validateAt); err != nil {
			panic(fmt.Sprintf("corpusgen: passport %s should be valid: %v", number, err))
		}
		f.Cases = append(f.Cases, sellerCase(fmt.Sprintf("seller-passport-%s-%02d", strings.ToLower(fr.state), i+1), label, "T1", note, req))
	}
	return f
}
