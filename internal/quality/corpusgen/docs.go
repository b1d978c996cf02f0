package corpusgen

import (
	"fmt"
	"strings"
	"time"

	"github.com/riskd/riskd/internal/verifier/identity"
	"github.com/riskd/riskd/internal/verifier/license"
)

// validateAt is the date documents are checked against while generating;
// birth dates are absolute, so every genuine holder is an adult long
// before it.
var validateAt = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// idNumber builds a resident identity number with the right GB 11643
// (ISO 7064 MOD 11-2) check character.
func idNumber(region string, birth time.Time, seq int) string {
	body := fmt.Sprintf("%s%s%03d", region, birth.Format("20060102"), seq%1000)
	c, ok := identity.CheckCharacter(body)
	if !ok {
		panic("corpusgen: bad identity body " + body)
	}
	return body + string(c)
}

// validID builds a number and insists the validator accepts it.
func validID(region string, birth time.Time, seq int) string {
	n := idNumber(region, birth, seq)
	if _, err := identity.ParseResidentID(n, validateAt); err != nil {
		panic(fmt.Sprintf("corpusgen: %s should be valid: %v", n, err))
	}
	return n
}

// wrongCheck changes a number's check character to a wrong one.
func wrongCheck(n string) string {
	const chars = "0123456789X"
	i := strings.IndexByte(chars, n[17])
	return n[:17] + string(chars[(i+3)%len(chars)])
}

const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// orgCheck is the GB 11714 check character of an 8-character body.
func orgCheck(body string) byte {
	c, ok := license.OrgCheckCharacter(body)
	if !ok {
		panic("corpusgen: organisation code body " + body)
	}
	return c
}

// uscc builds a Unified Social Credit Code with the right MOD 31 check
// character. orgValid says whether the embedded organisation code passes
// its own GB 11714 check.
func uscc(deptType, region, orgBody string, orgValid bool) string {
	oc := orgBody + string(orgCheck(orgBody))
	if !orgValid {
		c := orgCheck(orgBody)
		bad := byte('0' + (int(c-'0')+4)%10)
		if c == 'X' {
			bad = '3'
		}
		oc = orgBody + string(bad)
	}
	body := deptType + region + oc
	return body + string(usccCheck(body))
}

func usccCheck(body string) byte {
	c, ok := license.CheckCharacter(body)
	if !ok {
		panic("corpusgen: licence body " + body)
	}
	return c
}

// validUSCC builds a code and insists the validator accepts it, with the
// organisation code as asked.
func validUSCC(deptType, region, orgBody string, orgValid bool) string {
	c := uscc(deptType, region, orgBody, orgValid)
	u, err := license.ParseUSCC(c)
	if err != nil {
		panic(fmt.Sprintf("corpusgen: %s should be valid: %v", c, err))
	}
	if u.OrgCodeValid != orgValid {
		panic(fmt.Sprintf("corpusgen: %s organisation code valid %v, want %v", c, u.OrgCodeValid, orgValid))
	}
	return c
}

// orgBody is an 8-digit organisation-code body unique to n.
func (g *gen) orgBody(n int) string { return fmt.Sprintf("%08d", 10000000+n*7919%89999999) }

var surnames = []string{"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "罗", "高"}
var givenNames = []string{"伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "建华", "晓东", "文博", "思远", "雨桐"}

func (g *gen) personName() string { return g.pick(surnames...) + g.pick(givenNames...) }

var cities = []struct{ name, tel, region string }{
	{"北京市朝阳区", "010", "110105"}, {"上海市浦东新区", "021", "310115"}, {"广州市天河区", "020", "440106"},
	{"深圳市南山区", "0755", "440305"}, {"杭州市西湖区", "0571", "330106"}, {"成都市武侯区", "028", "510107"},
	{"武汉市洪山区", "027", "420111"}, {"南京市鼓楼区", "025", "320106"}, {"福州市鼓楼区", "0591", "350102"},
	{"西安市雁塔区", "029", "610113"}, {"长沙市岳麓区", "0731", "430104"}, {"郑州市金水区", "0371", "410105"},
	{"义乌市", "0579", "330782"}, {"东莞市", "0769", "441900"}, {"苏州市吴中区", "0512", "320506"},
}

var trades = []string{"贸易", "电子", "服饰", "食品", "家居用品", "文化传媒", "数码科技", "日用百货", "母婴用品", "茶叶", "五金", "化妆品"}

var streets = []string{"人民路", "解放路", "中山路", "建设路", "和平路", "文化路", "新华路", "长江路", "黄河路", "青年路"}

// person is a seller's identity and contact details, all its own.
type person struct {
	n                           int
	name, id                    string
	city                        int
	mobile, landline, email     string
	address, device, ip, payout string
}

func (g *gen) person(region string) person {
	n := g.next()
	c := g.r.IntN(len(cities))
	if region == "" {
		region = cities[c].region
	}
	birth := time.Date(g.between(1958, 2001), time.Month(g.between(1, 12)), g.between(1, 28), 0, 0, 0, 0, time.UTC)
	return person{
		n:        n,
		name:     g.personName(),
		id:       validID(region, birth, n),
		city:     c,
		mobile:   fmt.Sprintf("1%d%09d", g.pick3(), 100000000+n*104729%899999999),
		landline: fmt.Sprintf("%s-%d", cities[c].tel, 80000000+n*7331%9999999),
		email:    fmt.Sprintf("%s%d@%s", g.pick("shop", "store", "sales", "kefu", "service", "contact"), n, g.pick("163.com", "qq.com", "126.com", "sina.com", "foxmail.com", "aliyun.com")),
		address:  fmt.Sprintf("%s%s%d号%d室", cities[c].name, g.pick(streets...), g.between(1, 999), 100+n),
		device:   fmt.Sprintf("dev-s%05d", n),
		ip:       g.ip(),
		payout:   fmt.Sprintf("62220%014d", 10000000000000+int64(n)*982451653%89999999999999),
	}
}

func (g *gen) pick3() int { return []int{3, 5, 8, 9}[g.r.IntN(4)] }

func (g *gen) ip() string {
	switch g.r.IntN(3) {
	case 0:
		return fmt.Sprintf("203.0.113.%d", g.between(1, 254))
	case 1:
		return fmt.Sprintf("198.51.100.%d", g.between(1, 254))
	}
	return fmt.Sprintf("192.0.2.%d", g.between(1, 254))
}

func (g *gen) company(p person) string {
	return strings.TrimSuffix(cities[p.city].name[:strings.Index(cities[p.city].name, "市")+3], "市") + g.pick("鑫", "华", "盛", "恒", "创", "泰", "嘉", "博") + g.pick("源", "达", "兴", "通", "宇", "诚", "和", "瑞") + g.pick(trades...) + "有限公司"
}

// sellerRequest is a CheckSeller request for p; lic may be nil.
func sellerRequest(p person, lic obj, payoutHolder string) obj {
	req := obj{
		"sellerId": fmt.Sprintf("seller-%05d", p.n),
		"client":   obj{"deviceId": p.device, "ipAddress": p.ip},
		"identity": obj{"type": "IDENTITY_DOCUMENT_TYPE_RESIDENT_ID", "number": p.id, "fullName": p.name},
		"contact":  obj{"mobile": p.mobile, "landline": p.landline, "email": p.email, "address": p.address},
		"payout":   obj{"accountNumber": p.payout, "holderName": payoutHolder},
	}
	if lic != nil {
		req["license"] = lic
	}
	return req
}

// idCheckChar is the check character of any 17 digits.
func idCheckChar(body string) (byte, bool) { return identity.CheckCharacter(body) }
