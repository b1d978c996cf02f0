package identity

import (
	"errors"
	"slices"
	"testing"
)

// TestAddressCodeClasses goes through every class of the address-code rule
// (markAddressCodes) with real codes from the published lists. The numbers
// are synthetic: the real code, a birth date, a sequence, and the check
// character computed by withCheck.
func TestAddressCodeClasses(t *testing.T) {
	const (
		accept    = ""
		unknown   = "unknown"
		province  = detailProvince
		prefectur = detailPrefecture
	)
	tests := []struct {
		class, code, name string
		current           bool
		permit            string
		refused           string // "" accepted, else why
	}{
		// County-level codes, in use and abolished.
		{"county in use", "110105", "朝阳区", true, "", accept},
		{"county-level city in use", "321281", "兴化市", true, "", accept},
		{"county abolished in 1993", "440524", "潮阳县", false, "", accept},
		{"district that existed 1981-1985", "110110", "燕山区", false, "", accept},
		{"county-level city that existed 1993-1994", "132404", "高碑店市", false, "", accept},
		{"province-administered forest district", "429021", "神农架林区", true, "", accept},
		// Codes found only in the Ministry's lists as published.
		{"Ministry list 1990-1994: province-administered city", "139002", "霸州市", false, "", accept},
		{"Ministry list 1993-1994", "449013", "花都市", false, "", accept},
		{"Ministry list 1984-1990, corrected to 230834 later", "230824", "友谊县", false, "", accept},
		{"Ministry list 1995-1996 (涪陵市's district)", "517002", "枳城区", false, "", accept},
		// Historical xxxx01 市辖区 summary codes of cities with districts.
		{"深圳市 市辖区", "440301", "市辖区", true, "", accept},
		{"杭州市 市辖区", "330101", "市辖区", true, "", accept},
		{"南京市 市辖区", "320101", "市辖区", true, "", accept},
		{"福州市 市辖区", "350101", "市辖区", true, "", accept},
		{"重庆市 市辖区 while in Sichuan (1983-1996)", "510201", "市辖区", false, "", accept},
		{"莱芜市 市辖区 (1992-2018)", "371201", "市辖区", false, "", accept},
		{"泰州市: county-level city in 1983, 市辖区 since", "321201", "市辖区", true, "", accept},
		// A real district that happens to end in 01 stays the district.
		{"六盘水市 钟山区", "520201", "钟山区", true, "", accept},
		// Prefecture-level cities without counties.
		{"东莞市", "441900", "东莞市", true, "", accept},
		{"中山市", "442000", "中山市", true, "", accept},
		{"嘉峪关市", "620200", "嘉峪关市", true, "", accept},
		{"儋州市", "460400", "儋州市", true, "", accept},
		{"三亚市, no districts 1988-2013", "460200", "三亚市", true, "", accept},
		{"三沙市, no districts 2012-2019", "460300", "三沙市", true, "", accept},
		{"东川市, no districts 1983-1997", "530200", "东川市", false, "", accept},
		// Residence permits of Hong Kong, Macao and Taiwan residents.
		{"Hong Kong residents' residence permit", "810000", "香港特别行政区", true, "HK", accept},
		{"Macao residents' residence permit", "820000", "澳门特别行政区", true, "MO", accept},
		{"Taiwan residents' residence permit", "830000", "台湾居民居住证", true, "TW", accept},
		// Bare province codes.
		{"北京市", "110000", "", false, "", province},
		{"广东省", "440000", "", false, "", province},
		{"新疆维吾尔自治区", "650000", "", false, "", province},
		{"台湾省 (permits use 830000)", "710000", "", false, "", province},
		// Ordinary prefecture codes, with counties or districts under them.
		{"深圳市", "440300", "", false, "", prefectur},
		{"杭州市", "330100", "", false, "", prefectur},
		{"福州市", "350100", "", false, "", prefectur},
		{"黄冈地区 (abolished 1995)", "422100", "", false, "", prefectur},
		{"延边朝鲜族自治州", "222400", "", false, "", prefectur},
		// Not codes at all.
		{"municipality's 市辖区 line, not in the lists", "110100", "", false, "", unknown},
		{"no such county", "440399", "", false, "", unknown},
	}
	for _, tt := range tests {
		t.Run(tt.class, func(t *testing.T) {
			num := withCheck(tt.code + "19900101" + "123")
			id, err := ParseResidentID(num, refNow)
			if tt.refused != accept {
				var de *DocumentError
				if !errors.Is(err, ErrRegion) || !errors.As(err, &de) {
					t.Fatalf("err = %v, want a region error", err)
				}
				if want := tt.refused; (want == unknown && de.Detail != "") || (want != unknown && de.Detail != want) {
					t.Errorf("detail = %q, want %q", de.Detail, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("genuine code refused: %v", err)
			}
			if id.Region != tt.code || id.RegionName != tt.name || id.RegionCurrent != tt.current || id.Permit != tt.permit {
				t.Errorf("got region %s %q current %v permit %q, want %s %q %v %q",
					id.Region, id.RegionName, id.RegionCurrent, id.Permit, tt.code, tt.name, tt.current, tt.permit)
			}
		})
	}
}

// TestPrefecturesWithoutCounties pins the full list the rule finds in the
// table: every prefecture-level code that, in some year from 1983, had no
// county-level code under it. A new city without counties (or a table
// refresh that loses one) shows up here.
func TestPrefecturesWithoutCounties(t *testing.T) {
	want := map[string]string{
		"371100": "日照市",  // prefecture-level 1989, districts 1992
		"420300": "十堰市",  // districts 1984
		"420400": "沙市市",  // until merged into 荆沙市, 1994
		"420500": "宜昌市",  // districts 1986
		"420700": "鄂州市",  // districts 1984
		"420800": "荆门市",  // districts 1985
		"441000": "海口市",  // under Guangdong, 1987
		"441100": "三亚市",  // under Guangdong, 1987
		"441900": "东莞市",  // since 1988
		"442000": "中山市",  // since 1988
		"450500": "北海市",  // districts 1984
		"460100": "海口市",  // districts 1990
		"460200": "三亚市",  // districts 2014
		"460300": "三沙市",  // districts 2020
		"460400": "儋州市",  // since 2015
		"530200": "东川市",  // until it became a district of 昆明, 1998
		"620200": "嘉峪关市", // always
		"650300": "石河子市", // prefecture-level until 1985
	}
	got := map[string]string{}
	for _, r := range regionTable() {
		if r.Code[4:] == "00" && r.Code[2:] != "0000" && r.AddressCode {
			got[r.Code] = r.Name
		}
	}
	for code, name := range want {
		if got[code] != name {
			t.Errorf("%s %s: not an address code, want one", code, name)
		}
	}
	for code, name := range got {
		if _, ok := want[code]; !ok {
			t.Errorf("%s %s: an address code, want none", code, name)
		}
	}
}

// TestAddressCodeRuleLevels checks the level rule over the whole table: no
// province code is an address code, every county-level code is, and every
// derived code is an xxxx01 under a prefecture-level city in the table.
func TestAddressCodeRuleLevels(t *testing.T) {
	for _, r := range regionTable() {
		switch {
		case r.Code[2:] == "0000" && r.AddressCode:
			t.Errorf("%s %s: a province code is an address code", r.Code, r.Name)
		case r.Code[4:] != "00" && !r.AddressCode:
			t.Errorf("%s %s: a county-level code is not an address code", r.Code, r.Name)
		}
		if r.Source == "derived" || r.Source == "mca+derived" {
			city, ok := LookupRegion(r.Code[:4] + "00")
			if r.Code[4:] != "01" || r.Name != "市辖区" || !ok || (r.Source == "derived" && r.Since < firstDistrictYear) {
				t.Errorf("derived %+v: not the 市辖区 of a city in the table (%+v)", r, city)
			}
		}
	}
}

func TestMarkAddressCodes(t *testing.T) {
	tests := []struct {
		name  string
		table string
		want  []string // the prefecture-level codes that are address codes
	}{
		{"counties all along", "440300,深圳市,1981,,areacodes\n440303,罗湖区,1981,,areacodes\n", nil},
		{"no counties ever", "441900,东莞市,1988,,areacodes\n", []string{"441900"}},
		{"districts from a later year", "460200,三亚市,1988,,areacodes\n460202,海棠区,2014,,areacodes\n", []string{"460200"}},
		{"districts until the city went", "530200,东川市,1981,1998,areacodes\n530202,x区,1983,1998,areacodes\n", nil},
		{"a gap between two districts", "130200,甲市,1983,,areacodes\n130202,a区,1983,1990,areacodes\n130203,b区,1991,,areacodes\n", []string{"130200"}},
		{"spans that overlap", "120100,乙市,1983,,areacodes\n120102,a区,1983,1995,areacodes\n120103,b区,1990,,areacodes\n", nil},
		{"nothing under it before 1983 does not count", "130100,石家庄市,1981,,areacodes\n130102,长安区,1983,,areacodes\n", nil},
		{"abolished before 1983", "352800,三明地区,1980,1982,mca\n", nil},
		{"the derived 市辖区 counts as under it", "330100,杭州市,1981,,areacodes\n330101,市辖区,1983,,derived\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, err := parseRegionTable("code,name,since,until,source\n" + tt.table)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range table {
				if r.Code[4:] == "00" && r.Code[2:] != "0000" && r.AddressCode {
					got = append(got, r.Code)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("prefecture address codes %v, want %v", got, tt.want)
			}
		})
	}
}

func TestResidencePermit(t *testing.T) {
	for code, want := range map[string]string{
		"810000": "HK", "820000": "MO", "830000": "TW",
		"710000": "", "110105": "", "810100": "", "": "",
	} {
		if got := ResidencePermit(code); got != want {
			t.Errorf("ResidencePermit(%q) = %q, want %q", code, got, want)
		}
	}
}
