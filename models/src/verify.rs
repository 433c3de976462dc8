//! Compares converted models under ONNX Runtime with the reference tensors of the original
//! TFLite models, output by output.

use aifx::session::{session, SessionOptions};

use crate::catalog::{Catalog, Diff};
use crate::reference::{read_f32, Reference};
use crate::store::Store;

/// One compared output.
#[derive(Debug, Clone)]
pub struct Row {
    pub model: String,
    pub case: String,
    pub output: String,
    pub diff: Diff,
    pub tolerance: String,
    pub passed: bool,
}

/// Runs every catalog model on every reference case.
pub fn verify(
    catalog: &Catalog,
    store: &Store,
    reference: &Reference,
    opts: &SessionOptions,
) -> Result<Vec<Row>, String> {
    if opts.device == aifx::Device::Auto {
        return Err(
            "verify needs one provider: `auto` runs the first frames on each in turn; \
                    name one (cpu, openvino, …)"
                .into(),
        );
    }
    let mut rows = Vec::new();
    for m in &catalog.models {
        let cases = reference
            .manifest
            .models
            .get(&m.name)
            .ok_or_else(|| format!("reference has no cases for `{}`", m.name))?;
        let s = session(&store.onnx(m), opts).map_err(|e| e.to_string())?;
        // A provider that fell back to the CPU would verify the CPU under another name.
        if s.device() != opts.device || s.notice.is_some() {
            return Err(format!(
                "`{}` in {} is not usable here: {}",
                opts.device,
                opts.precision,
                s.notice
                    .as_deref()
                    .unwrap_or("the session runs on another provider")
            ));
        }
        for (case_name, case) in &cases.cases {
            let input = read_f32(&reference.file(&m.name, case_name, &case.input_file))?;
            let outputs = s
                .run(&case.input_shape, &input)
                .map_err(|e| e.to_string())?;
            // The reference has every output of the TFLite file; a model may keep fewer, but
            // every output the catalog lists must have a reference to be compared with.
            for name in &m.outputs {
                let file = case.outputs.get(name).ok_or_else(|| {
                    format!(
                        "the reference for `{}` case `{case_name}` has no output `{name}`: \
                         rerun the set-up to recompute the references",
                        m.name
                    )
                })?;
                let ours = outputs
                    .iter()
                    .find(|o| &o.name == name)
                    .ok_or_else(|| format!("`{}` has no output `{name}`", m.name))?;
                if ours.shape != file.shape {
                    return Err(format!(
                        "`{}` output `{name}` has shape {:?}, reference {:?}",
                        m.name, ours.shape, file.shape
                    ));
                }
                let theirs = read_f32(&reference.file(&m.name, case_name, &file.file))?;
                let check = m.check(name);
                let diff = check.compare(&ours.data, &theirs)?;
                let mut tolerance = format!("abs {:.0e}", check.abs);
                if check.rel > 0.0 {
                    tolerance += &format!(" + rel {:.0e}", check.rel);
                }
                if let Some(a) = &check.apply {
                    tolerance += &format!(" after {a}");
                }
                rows.push(Row {
                    model: m.name.clone(),
                    case: case_name.clone(),
                    output: name.clone(),
                    passed: check.passes(&diff),
                    diff,
                    tolerance,
                });
            }
        }
    }
    Ok(rows)
}
