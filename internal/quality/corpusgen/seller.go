package corpusgen

import (
	"fmt"
	"strings"
	"time"

	"github.com/riskd/riskd/internal/quality"
)

func sellerCase(name string, label quality.Label, threat, note string, req obj) quality.RawCase {
	return quality.RawCase{Name: name, Label: label, Check: quality.CheckSeller, Threat: threat, Note: note, Request: req}
}

func (g *gen) licence(p person, deptType string, orgValid bool) (obj, string) {
	company := g.company(p)
	region := cities[p.city].region
	code := validUSCC(deptType, region, g.orgBody(p.n), orgValid)
	return obj{"uscc": code, "companyName": company, "legalRepresentative": p.name}, company
}

func sellerGenuineCompanies(g *gen) quality.File {
	f := quality.File{Family: "seller-genuine-companies", About: "Companies opening shops with valid documents, a fixed address and landline, paid out to the company's own account."}
	for i := range 24 {
		p := g.person("")
		lic, company := g.licence(p, "91", true)
		holder := company
		note := "valid resident ID and USCC, full contact, payout to the company"
		if i%4 == 3 {
			holder = p.name
			note = "valid documents; payout to the legal representative's own account"
		}
		req := sellerRequest(p, lic, holder)
		if i%5 == 4 {
			c := req["contact"].(obj)
			delete(c, "email")
			c["chatHandle"] = fmt.Sprintf("wx_%s%d", g.pick("shop", "boss", "store"), p.n)
			note += "; no e-mail, a chat handle instead"
		}
		f.Cases = append(f.Cases, sellerCase(fmt.Sprintf("seller-company-%02d", i+1), quality.Genuine, "T1", note, req))
	}
	return f
}

// historicRegions are xxxx01 市辖区 summary codes: no longer issued, but
// on the cards of millions of people registered while they were.
var historicRegions = []string{"110101", "120101", "130101", "140101", "150101", "210101", "220101", "230101",
	"310101", "320101", "330101", "340101", "350101", "360101", "370101", "410101", "420101", "430101",
	"440101", "450101", "510101", "520101", "530101", "610101", "620101"}

func sellerGenuineHistoricRegions(g *gen) quality.File {
	f := quality.File{Family: "seller-genuine-historic-regions", About: "Sellers whose identity numbers carry the historical xxxx01 市辖区 region codes, with valid check characters; some born before 1970."}
	for i, region := range historicRegions {
		p := g.person(region)
		var req obj
		if i%2 == 0 {
			lic, company := g.licence(p, "91", true)
			req = sellerRequest(p, lic, company)
		} else {
			req = sellerRequest(p, nil, p.name)
		}
		f.Cases = append(f.Cases, sellerCase(fmt.Sprintf("seller-region-%s", region), quality.Genuine, "T1",
			"identity number with the historical region code "+region, req))
	}
	return f
}

func sellerGenuinePermits(g *gen) quality.File {
	f := quality.File{Family: "seller-genuine-residence-permits", About: "Residents of Hong Kong, Macao and Taiwan selling with their residence permits (810000, 820000, 830000)."}
	for i := range 12 {
		region := []string{"810000", "820000", "830000"}[i%3]
		p := g.person(region)
		var req obj
		if i%3 == 1 {
			lic, company := g.licence(p, "91", true)
			req = sellerRequest(p, lic, company)
		} else {
			req = sellerRequest(p, nil, p.name)
		}
		f.Cases = append(f.Cases, sellerCase(fmt.Sprintf("seller-permit-%s-%02d", map[string]string{"810000": "hk", "820000": "mo", "830000": "tw"}[region], i+1),
			quality.Genuine, "T1", "residence permit "+region, req))
	}
	return f
}

func sellerGenuineIndividualBusiness(g *gen) quality.File {
	f := quality.File{Family: "seller-genuine-individual-business", About: "Individual businesses (个体工商户, USCC 92...) whose embedded organisation code fails its GB 11714 check, as many genuine ones do; the MOD 31 check character is right."}
	for i := range 14 {
		p := g.person("")
		lic, _ := g.licence(p, "92", false)
		lic["companyName"] = cities[p.city].name + p.name + g.pick("小吃店", "服装店", "五金店", "水果店", "手机维修部", "茶叶店", "便利店")
		f.Cases = append(f.Cases, sellerCase(fmt.Sprintf("seller-individual-business-%02d", i+1), quality.Genuine, "T1",
			"individual business, organisation code fails GB 11714, payout to the owner", sellerRequest(p, lic, p.name)))
	}
	return f
}

func sellerGenuinePrivate(g *gen) quality.File {
	f := quality.File{Family: "seller-genuine-private", About: "Private sellers without a company: second-hand goods, handicrafts; identity, address and their own bank account."}
	for i := range 12 {
		p := g.person("")
		req := sellerRequest(p, nil, p.name)
		note := "private seller with address and landline"
		if i%3 == 2 {
			delete(req["contact"].(obj), "landline")
			note = "private seller with an address, mobile only"
		}
		f.Cases = append(f.Cases, sellerCase(fmt.Sprintf("seller-private-%02d", i+1), quality.Genuine, "T3", note, req))
	}
	// The number typed as people type it: grouped with spaces or dashes,
	// a lower-case x, full-width digits from a Chinese input method.
	for i := range 6 {
		p := g.person("")
		typed, how := typedID(p.id, i)
		req := sellerRequest(p, nil, p.name)
		req["identity"].(obj)["number"] = typed
		f.Cases = append(f.Cases, sellerCase(fmt.Sprintf("seller-typed-id-%02d", i+1), quality.Genuine, "T1",
			"valid identity number typed "+how, req))
	}
	return f
}

// typedID writes a valid number the way a person might type it.
func typedID(id string, variant int) (string, string) {
	switch variant % 3 {
	case 0:
		return id[:6] + " " + id[6:14] + " " + id[14:], "in groups with spaces"
	case 1:
		return id[:6] + "-" + id[6:14] + "-" + strings.ToLower(id[14:]), "with dashes"
	}
	var b strings.Builder
	for _, r := range id {
		if r >= '0' && r <= '9' {
			r += '０' - '0'
		}
		b.WriteRune(r)
	}
	return b.String(), "in full-width digits"
}

func sellerFraudDocuments(g *gen) quality.File {
	f := quality.File{Family: "seller-fraud-documents", About: "T1: invented identity numbers and forged licences (seed 000: two fake companies on a false identity)."}
	add := func(name, note string, req obj) {
		f.Cases = append(f.Cases, sellerCase(name, quality.Fraud, "T1", note, req))
	}
	for i := range 6 {
		p := g.person("")
		lic, company := g.licence(p, "91", true)
		req := sellerRequest(p, lic, company)
		req["identity"].(obj)["number"] = wrongCheck(p.id)
		add(fmt.Sprintf("seller-id-bad-check-%02d", i+1), "identity number with a wrong check character", req)
	}
	bad := []struct{ name, region, note string }{
		{"province", "440000", "bare province code"}, {"taiwan-province", "710000", "710000 is no address code"},
		{"unknown", "990101", "unknown region"}, {"prefecture", "440100", "prefecture code with districts under it"},
	}
	for _, b := range bad {
		p := g.person("")
		req := sellerRequest(p, nil, p.name)
		req["identity"].(obj)["number"] = idNumber(b.region, time.Date(g.between(1970, 1995), 3, 14, 0, 0, 0, 0, time.UTC), p.n)
		add("seller-id-region-"+b.name, "identity number with "+b.note, req)
	}
	for i, birth := range []string{"19990231", "19881345", "20301010"} {
		p := g.person("")
		req := sellerRequest(p, nil, p.name)
		body := cities[p.city].region + birth + fmt.Sprintf("%03d", p.n%1000)
		c, _ := idCheckChar(body)
		req["identity"].(obj)["number"] = body + string(c)
		add(fmt.Sprintf("seller-id-impossible-birth-%02d", i+1), "identity number with an impossible birth date "+birth, req)
	}
	for i := range 3 {
		p := g.person("")
		req := sellerRequest(p, nil, p.name)
		req["identity"].(obj)["number"] = idNumber(cities[p.city].region, time.Date(2012+i, 6, 1, 0, 0, 0, 0, time.UTC), p.n)
		add(fmt.Sprintf("seller-id-underage-%02d", i+1), "identity holder born after 2011: under 18", req)
	}
	for i := range 6 {
		p := g.person("")
		lic, company := g.licence(p, "91", true)
		code := lic["uscc"].(string)
		switch i % 3 {
		case 0: // wrong check character
			lic["uscc"] = code[:17] + string(usccAlphabet[(indexOf(code[17])+5)%31])
		case 1: // department/type pair that does not exist
			body := "97" + code[2:17]
			lic["uscc"] = body + string(usccCheck(body))
		case 2: // a province that does not exist
			body := code[:2] + "99" + code[4:17]
			lic["uscc"] = body + string(usccCheck(body))
		}
		add(fmt.Sprintf("seller-licence-forged-%02d", i+1), []string{"USCC with a wrong check character", "USCC with no such department and type", "USCC with no such province"}[i%3],
			sellerRequest(p, lic, company))
	}
	for i := range 4 {
		p := g.person("")
		lic, company := g.licence(p, "91", true)
		lic["legalRepresentative"] = g.personName() + "某"
		req := sellerRequest(p, lic, company)
		c := req["contact"].(obj)
		delete(c, "landline")
		delete(c, "address")
		c["email"] = fmt.Sprintf("boss%d@%s", p.n, g.pick("mailinator.com", "yopmail.com", "guerrillamail.com", "sharklasers.com"))
		c["chatHandle"] = fmt.Sprintf("qq%d", 100000+p.n)
		req["payout"].(obj)["holderName"] = g.personName()
		add(fmt.Sprintf("seller-thin-strawman-%02d", i+1), "T3 with T1: not the legal representative, payout to a third person, throwaway e-mail, no address or landline", req)
	}
	return f
}

func indexOf(c byte) int {
	for i := range len(usccAlphabet) {
		if usccAlphabet[i] == c {
			return i
		}
	}
	return 0
}

func sellerFraudBannedReturn(g *gen) quality.File {
	f := quality.File{Family: "seller-fraud-banned-return", About: "T2: a banned seller comes back as a new company with a new identity but the same phone, bank account, e-mail, address, licence or identity number (seed 000)."}
	shared := []string{"mobile", "payout", "email", "address", "landline", "id", "licence", "mobile", "payout", "email", "payout", "mobile"}
	for i, what := range shared {
		old := g.person("")
		oldLic, oldCo := g.licence(old, "91", true)
		banned := sellerRequest(old, oldLic, oldCo)
		p := g.person("")
		lic, company := g.licence(p, "91", true)
		req := sellerRequest(p, lic, company)
		switch what {
		case "mobile":
			req["contact"].(obj)["mobile"] = old.mobile
		case "payout":
			req["payout"].(obj)["accountNumber"] = old.payout
		case "email":
			req["contact"].(obj)["email"] = old.email
		case "address":
			req["contact"].(obj)["address"] = old.address
		case "landline":
			req["contact"].(obj)["landline"] = old.landline
		case "id":
			req["identity"] = obj{"type": "IDENTITY_DOCUMENT_TYPE_RESIDENT_ID", "number": old.id, "fullName": old.name}
			lic["legalRepresentative"] = old.name
		case "licence":
			req["license"] = oldLic
			req["payout"].(obj)["holderName"] = oldCo
			req["identity"] = obj{"type": "IDENTITY_DOCUMENT_TYPE_RESIDENT_ID", "number": old.id, "fullName": old.name}
		}
		c := sellerCase(fmt.Sprintf("seller-banned-returns-%s-%02d", what, i+1), quality.Fraud, "T2",
			"shares its "+what+" with a seller banned earlier", req)
		if i%3 == 2 {
			// The ban is known from outside riskd, recorded against the seller.
			c.History = []quality.RawStep{
				{Check: quality.CheckSeller, Request: banned},
				{Record: []obj{{"eventId": fmt.Sprintf("ban-%05d", old.n), "occurredAt": g.ago(time.Hour, 20*day),
					"outcome": obj{"sellerId": banned["sellerId"], "label": "OUTCOME_LABEL_SELLER_BANNED", "note": "delisted: goods never shipped"}}}},
			}
			c.Note += " (ban recorded through RecordEvents)"
		} else {
			c.History = []quality.RawStep{{Check: quality.CheckSeller, Request: banned, Report: "SELLER_BANNED"}}
		}
		f.Cases = append(f.Cases, c)
	}
	for i := range 3 {
		old := g.person("")
		oldLic, oldCo := g.licence(old, "91", true)
		p := g.person("")
		p.device = old.device
		lic, company := g.licence(p, "91", true)
		c := sellerCase(fmt.Sprintf("seller-banned-returns-device-%02d", i+1), quality.Fraud, "T2",
			"a new company opened from the device a banned seller used", sellerRequest(p, lic, company))
		c.History = []quality.RawStep{{Check: quality.CheckSeller, Request: sellerRequest(old, oldLic, oldCo), Report: "SELLER_BANNED"}}
		f.Cases = append(f.Cases, c)
	}
	for i := range 2 {
		old := g.person("")
		p := g.person("")
		lic, company := g.licence(p, "91", true)
		req := sellerRequest(p, lic, company)
		req["sellerId"] = fmt.Sprintf("seller-%05d", old.n)
		c := sellerCase(fmt.Sprintf("seller-banned-same-account-%02d", i+1), quality.Fraud, "T2",
			"a seller account banned outside riskd reapplies with new papers", req)
		c.History = []quality.RawStep{{Record: []obj{{"eventId": fmt.Sprintf("ban-%05d", old.n), "occurredAt": g.ago(2*day, 90*day),
			"outcome": obj{"sellerId": req["sellerId"], "label": "OUTCOME_LABEL_SELLER_BANNED", "note": "counterfeit goods"}}}}}
		f.Cases = append(f.Cases, c)
	}
	return f
}

func sellerFraudFarms(g *gen) quality.File {
	f := quality.File{Family: "seller-fraud-farms", About: "T2: many shops opened from one device or one payout account in a short time."}
	for i := range 8 {
		device := fmt.Sprintf("dev-farm-%02d", i+1)
		payout := ""
		var history []quality.RawStep
		for j := range 2 + i%2 {
			p := g.person("")
			lic, company := g.licence(p, "91", true)
			if i%2 == 1 {
				if payout == "" {
					payout = p.payout
				}
				p.payout = payout
			} else {
				p.device = device
			}
			history = append(history, quality.RawStep{Check: quality.CheckSeller, Request: sellerRequest(p, lic, company)})
			_ = j
		}
		p := g.person("")
		lic, company := g.licence(p, "91", true)
		what := "device"
		if i%2 == 1 {
			p.payout = payout
			what = "payout account"
		} else {
			p.device = device
		}
		req := sellerRequest(p, lic, company)
		c := sellerCase(fmt.Sprintf("seller-farm-%02d", i+1), quality.Fraud, "T2",
			fmt.Sprintf("the %s already opened %d other shops this month", what, len(history)), req)
		c.History = history
		f.Cases = append(f.Cases, c)
	}
	return f
}
