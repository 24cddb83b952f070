//! A Slurm job array for a sweep: task I runs shard I/N into its own folder; a dependent
//! job merges the shards.

use std::path::Path;

#[derive(Debug, Clone)]
pub struct SlurmSettings {
    /// Array size N (= number of shards).
    pub array: usize,
    pub partition: Option<String>,
    /// Wall-time limit per task, Slurm syntax (e.g. `01:00:00`).
    pub time: String,
    pub cpus: usize,
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// (array script, merge script, submit script) texts.
pub fn scripts(etwin: &Path, sweep: &Path, out: &Path, s: &SlurmSettings) -> (String, String, String) {
    let (bin, sw, dir) = (quote(etwin), quote(sweep), quote(out));
    let partition = s
        .partition
        .as_ref()
        .map_or(String::new(), |p| format!("#SBATCH --partition={p}\n"));
    let array = format!(
        "#!/bin/bash\n\
         #SBATCH --job-name=etwin-sweep\n\
         #SBATCH --array=0-{last}\n\
         #SBATCH --cpus-per-task={cpus}\n\
         #SBATCH --time={time}\n\
         {partition}\
         #SBATCH --output={out}/slurm-%A_%a.out\n\
         set -euo pipefail\n\
         # Shard I of N: every N-th case from the I-th; reruns skip finished cases.\n\
         exec {bin} --threads \"${{SLURM_CPUS_PER_TASK:-{cpus}}}\" sweep {sw} --out {dir}/shard_${{SLURM_ARRAY_TASK_ID}} --shard ${{SLURM_ARRAY_TASK_ID}}/{n}\n",
        last = s.array - 1,
        cpus = s.cpus,
        time = s.time,
        out = out.display(),
        n = s.array,
    );
    let shards: Vec<String> = (0..s.array).map(|i| format!("{dir}/shard_{i}")).collect();
    let merge = format!(
        "#!/bin/bash\n\
         #SBATCH --job-name=etwin-merge\n\
         #SBATCH --cpus-per-task=1\n\
         #SBATCH --time=00:10:00\n\
         {partition}\
         #SBATCH --output={out}/slurm-merge-%j.out\n\
         set -euo pipefail\n\
         exec {bin} sweep merge {shards} --out {dir}\n",
        out = out.display(),
        shards = shards.join(" "),
    );
    let submit = "#!/bin/bash\n\
         # Submits the array, then the merge once every task has succeeded.\n\
         set -euo pipefail\n\
         cd \"$(dirname \"$0\")\"\n\
         jid=$(sbatch --parsable sweep_array.sbatch)\n\
         sbatch --dependency=afterok:${jid%%;*} sweep_merge.sbatch\n"
        .to_string();
    (array, merge, submit)
}
