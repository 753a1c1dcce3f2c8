import json
import subprocess
import sys

import pandas as pd
import pytest

from analytics.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analytics.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_analyze_writes_outputs_and_a_summary(tmp_path, capsys):
    data = tmp_path / "shop.csv"
    main(["sample", "--customers", "400", "--months", "12", "--seed", "3", "--out", str(data)])
    assert (tmp_path / "shop_truth.csv").exists()
    main(["analyze", str(data), "--out", str(tmp_path / "out"), "--as-of", "2024-10-31"])
    printed = capsys.readouterr().out
    assert "Segments at 2024-10-31" in printed and "Wrote" in printed
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["as_of"] == "2024-10-31"
    assert summary["cleaning"]["dropped"]["after_as_of"] > 0


def test_explicit_mapping_when_headers_cannot_be_guessed(tmp_path, capsys):
    path = tmp_path / "wer-wann-wieviel.csv"
    pd.DataFrame({"Wer": ["001", "001", "002"],
                  "Wann": ["03.01.2024", "15.02.2024", "20.02.2024"],
                  "Wieviel": ["12,50", "8,00", "100,00"]}).to_csv(path, sep=";", index=False)
    with pytest.raises(SystemExit) as failed:
        main(["analyze", str(path), "--out", str(tmp_path / "out")])
    assert failed.value.code == 1
    error = capsys.readouterr().err
    assert "--map customer_id=" in error and "Wer" in error
    main(["analyze", str(path), "--out", str(tmp_path / "out"), "--map", "customer_id=Wer",
          "--map", "order_date=Wann", "--map", "amount=Wieviel"])
    customers = pd.read_csv(tmp_path / "out" / "customers.csv", dtype={"customer_id": str})
    assert customers.set_index("customer_id")["monetary"].to_dict() == {"001": 20.5,
                                                                       "002": 100.0}
    printed = capsys.readouterr().out
    assert "Rows read 3, kept 3, dropped none" in printed
    assert "customer_id ← 'Wer'" in " ".join(printed.split())  # what was read as what


def test_analyze_prints_the_columns_it_read_and_its_notes(tmp_path, capsys):
    path = tmp_path / "transactions.csv"
    pd.DataFrame({"customer_id": ["c1", "c1", "c2"],
                  "trans_date": ["05-Jan-24", "11-Feb-24", "20-Feb-24"],
                  "tran_amount": [30, 45, 12]}).to_csv(path, index=False)
    main(["analyze", str(path), "--out", str(tmp_path / "out")])
    printed = " ".join(capsys.readouterr().out.split())  # unwrapped
    assert ("Columns read: customer_id ← 'customer_id', order_date ← 'trans_date', "
            "amount ← 'tran_amount'") in printed
    assert "Note: transactions.csv: column 'tran_amount' is read as the amount" in printed


def test_bad_input_is_one_message_and_no_traceback(tmp_path):
    result = run("analyze", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "missing.csv" in result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert not (tmp_path / "out").exists()


def test_malformed_map_option_names_the_fix(tmp_path, capsys):
    with pytest.raises(SystemExit) as failed:
        main(["analyze", "--map", "customer_id", "--out", str(tmp_path)])
    assert failed.value.code == 2
    assert "FIELD=HEADER" in capsys.readouterr().err


def test_backtest_prints_the_tables_and_the_churn_margin(capsys, sample_analysis):
    main(["backtest", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result == json.loads(json.dumps(sample_analysis.diagnostics["backtest"]))
    main(["backtest"])
    printed = " ".join(capsys.readouterr().out.split())
    margin = result["churn"]["margin"]
    assert f"Churn: {result['churn']['customers']:,} customers" in printed
    assert "Recommendations @10" in printed
    assert (f"Churn model ({result['churn']['model_used']}): ROC AUC "
            f"{margin['roc_auc_difference']:+.4f} against the better baseline, "
            f"{margin['baseline']}") in printed
