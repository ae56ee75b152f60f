"""How tests/data/studies/rnx205/sample_export was made (kept so its worked values can be re-derived):
3 sites, CSV files, each site its own headers (English, French, Chinese).

    python3 tests/data/make_rnx205_export.py tests/data/studies/rnx205/sample_export
"""
import csv, sys
from datetime import date, timedelta
from pathlib import Path

out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
EXPORT = "2026-05-31"
H = {  # per site: subjects, injections, chemistry headers (raw_columns.csv header / aliases)
 "01": (["Site","Subject No.","Date of birth","Sex","Race","Ethnicity","Consent date","Randomisation date","Allocated treatment","Study exit date","Date of death"],
        ["Subject No.","Injection no.","Injection date","Injection time","Dose (mg)","Injection site","Reason not given"],
        ["Subject No.","Visit","Collection date","Parameter","Result","Unit","Lower limit","Upper limit","Comment"]),
 "02": (["Centre","N° patient","Date de naissance","Sexe","Origine","Ethnie","Date du consentement","Date de randomisation","Traitement alloué","Date de sortie","Date du décès"],
        ["N° patient","N° injection","Date d'injection","Heure d'injection","Dose administrée (mg)","Site d'injection","Motif de non-administration"],
        ["N° patient","Visite","Date de prélèvement","Paramètre","Résultat","Unité","Limite inférieure","Limite supérieure","Commentaire"]),
 "03": (["中心","受试者编号","出生日期","性别","种族","民族","知情同意日期","随机日期","分组","退出日期","死亡日期"],
        ["受试者编号","注射序号","注射日期","注射时间","剂量(mg)","注射部位","未注射原因"],
        ["受试者编号","访视","采样日期","检测项目","结果","单位","参考下限","参考上限","备注"]),
}
FILES = {"01": ("Subjects_site01","Injections_site01","Chemistry_site01"),
         "02": ("Subject list_site02","Injection log_site02","Renal panel_site02"),
         "03": ("受试者_site03","注射记录_site03","肾功能_site03")}
VISITS = {"01": ["Screening","Day 1","Week 2","Week 4","Week 8","Week 12","End of Treatment","Follow-up"],
          "02": ["Sélection","Jour 1","Semaine 2","Semaine 4","Semaine 8","Semaine 12","Fin de traitement","Suivi"],
          "03": ["筛选","第1天","第2周","第4周","第8周","第12周","治疗结束","随访"]}
OFFSET = [-7, 0, 14, 28, 56, 84, 168, 196]
TESTS = {"01": ["eGFR","Potassium","Creatinine","Haemoglobin","Urine protein"],
         "02": ["DFG estimé","Kaliémie","Créatinine","Hémoglobine","Protéinurie"],
         "03": ["估算肾小球滤过率","血钾","肌酐","血红蛋白","尿蛋白"]}
# subject: site, birth, sex, race, ethnic, consent, rand, arm text, first injection, doses per injection (None: not given + reason)
SUBJ = [
 ("01","01-001","1980-03-14","Male","Asian","Not Hispanic or Latino","2025-09-01","2025-09-08","RNX-17 300 mg","2025-09-10",[300]*12,""),
 ("01","01-002","1975-11-02","F","White","Not Hispanic or Latino","2025-09-03","2025-09-12","CPX-4 240 mg","2025-09-17",[240,240,240,None,240,240],"Patient hospitalised"),
 ("02","02-001","1969-06-30","Homme","Asiatique","Non hispanique","2025-09-15","2025-09-22","RNX-17 300 mg","2025-09-24",[300]*4+[150]*8,""),
 ("02","02-002","1988-01-19","Femme","Blanc","Non hispanique","2025-09-16","2025-09-23","CPX-4 240 mg","2025-09-25",[240]*12,""),
 ("03","03-001","1972-08-08","男","亚洲人","非西班牙裔","2025-10-06","2025-10-13","RNX300","2025-10-15",[300]*12,""),
 ("03","03-002","1990-12-01","女","亚洲人","非西班牙裔","2025-10-08","2025-10-15","CPX240","",[],""),
]
def d(s): return date.fromisoformat(s)
rows = {s: ([], [], []) for s in H}
for k, (site, subj, birth, sex, race, eth, consent, rand, arm, first, doses, reason) in enumerate(SUBJ):
    rows[site][0].append([site, subj, birth, sex, race, eth, consent, rand, arm, "", ""])
    for i, dose in enumerate(doses):
        when = d(first) + timedelta(days=14 * i)
        time = "09:30" if (subj == "01-001" and i == 0) else ("14:05" if i % 3 == 1 else "")
        rows[site][1].append([subj, i + 1, when.isoformat(), time if dose else "", dose if dose else "", "Abdomen" if i % 2 == 0 else "Thigh", reason if dose is None else ""])
    start = d(first) if first else d(rand) + timedelta(days=2)
    last_visit = 8 if len(doses) >= 12 else (5 if doses else 1)
    for v in range(last_visit):
        when = (start + timedelta(days=OFFSET[v])).isoformat()
        egfr = round(55 + 3 * k - 0.5 * v, 1)
        pot = round(4.1 + 0.1 * ((k + v) % 5), 1)
        creat = round(120 + 5 * k + v, 0)
        hgb = round(12.0 + 0.1 * k + 0.1 * v, 1)  # g/dL written by site 02, g/L elsewhere
        prot = ["2+", "1+", "1+", "TRACE", "TRACE", "NEG", "NEG", "NEG"][v]
        t = TESTS[site]
        lab = rows[site][2]
        lab.append([subj, VISITS[site][v], when, t[0], egfr, "mL/min/1.73 m²" if site == "03" else "mL/min/1.73m2", 60, 120, ""])
        if site == "02":
            lab.append([subj, VISITS[site][v], when, t[1], pot, "mEq/L", 3.5, 5.1, ""])
            lab.append([subj, VISITS[site][v], when, t[2], round(creat / 88.4, 2), "mg/dL", 0.5, 1.2, ""])
            lab.append([subj, VISITS[site][v], when, t[3], hgb, "g/dL", 12, 16, ""])
        else:
            lab.append([subj, VISITS[site][v], when, t[1], pot, "mmol/L", 3.5, 5.1, ""])
            lab.append([subj, VISITS[site][v], when, t[2], creat, "µmol/L" if site == "03" else "umol/L", 45, 110, ""])
            lab.append([subj, VISITS[site][v], when, t[3], round(hgb * 10), "g/L", 120, 160, ""])
        lab.append([subj, VISITS[site][v], when, t[4], prot, "", "", "", ""])
# planted: a Chinese free-text comment on a sample not analysed (must be a query asking for English)
rows["03"][2].append(["03-001", "计划外", "2026-01-20", "血钾", "", "mmol/L", 3.5, 5.1, "样本溶血"])
for site in H:
    for (name, header, body) in zip(FILES[site], H[site], rows[site]):
        with open(out / f"{name}_{EXPORT}.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n"); w.writerow(header); w.writerows(body)
