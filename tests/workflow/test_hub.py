"""`snakemake hub`: every fine-tuned model of a finished study as a hub-ready folder whose card
carries the study's figures for it; only the publishing jobs run."""

import pandas as pd
import yaml

from splade_core.model import Splade

from .conftest import copy_study, planned_jobs, snakemake, write_config


def test_hub_folders_carry_the_study_figures_of_their_model(finished_study, test_config, tmp_path):
    workdir = copy_study(finished_study, tmp_path / "study")
    configfile = str(write_config(workdir, test_config))
    assert planned_jobs(snakemake(workdir, "hub", "-n", "--configfile", configfile)) == {"publish_model": 2, "hub": 1}
    result = snakemake(workdir, "hub", "--cores", "2", "--configfile", configfile, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = pd.read_csv(workdir / "results" / "summary" / "tiny" / "summary.csv", dtype=str, keep_default_na=False)
    for setting in ("lq=0.001_ld=0.001", "lq=0.1_ld=0.1"):
        folder = workdir / "results" / "hub" / "splade-tiny" / setting
        card = (folder / "README.md").read_text()
        metadata = yaml.safe_load(card.split("---\n")[1])
        (entry,) = metadata["model-index"]
        (result,) = entry["results"]
        assert result["dataset"]["type"] == test_config["datasets"]["tiny"]["collection"]
        row = summary[(summary["setting"] == setting) & (summary["prune"] == "none")].iloc[0]
        ndcg = next(m for m in result["metrics"] if m["name"] == "nDCG@10")["value"]
        assert ndcg == round(float(row["nDCG@10"]), 4)
        assert Splade.from_pretrained(folder).vocab_size == 30522
