# qcos: run `snakemake --profile profiles/local` from here; the workflow lives in workflow/.


include: "workflow/Snakefile"


# An included file cannot set the default target, so point it at workflow/Snakefile's `all`.
rule default:
    default_target: True
    input:
        rules.all.input,
