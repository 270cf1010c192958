//! The tract backend: the ONNX graph parsed once (declared shapes ignored, so YuNet takes
//! any multiple of 32), an optimised plan per input shape built on first use and shared by
//! all callers, each run on the calling thread.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tract_onnx::prelude::*;

use super::{NetworkError, Runner};

pub(super) struct TractRunner {
    graph: InferenceModel,
    outputs: Vec<String>,
    plans: Mutex<HashMap<[usize; 4], Arc<Plan>>>,
}

/// A plan for one shape, and where each asked-for output is among its outputs.
struct Plan {
    plan: Arc<TypedRunnableModel>,
    positions: Vec<usize>,
}

impl TractRunner {
    pub(super) fn new(bytes: &[u8], outputs: Vec<String>) -> Result<TractRunner, String> {
        let graph = tract_onnx::onnx()
            .with_ignore_output_shapes(true)
            .with_ignore_value_info(true)
            .model_for_read(&mut &*bytes)
            .map_err(|e| format!("{e:#}"))?;
        Ok(TractRunner {
            graph,
            outputs,
            plans: Mutex::new(HashMap::new()),
        })
    }

    fn plan(&self, shape: [usize; 4]) -> Result<Arc<Plan>, NetworkError> {
        let mut plans = self.plans.lock();
        if let Some(plan) = plans.get(&shape) {
            return Ok(plan.clone());
        }
        let started = std::time::Instant::now();
        let plan = self
            .graph
            .clone()
            .with_input_fact(0, f32::fact(shape).into())
            .and_then(|graph| graph.into_optimized())
            .and_then(|graph| graph.into_runnable())
            .map_err(|e| NetworkError::Plan(format!("planning for a {shape:?} input: {e:#}")))?;
        let model = plan.model();
        let outlets = model
            .output_outlets()
            .map_err(|e| NetworkError::Interface(format!("{e:#}")))?;
        let names: Vec<&str> = outlets
            .iter()
            .map(|&outlet| {
                model
                    .outlet_label(outlet)
                    .unwrap_or(&model.node(outlet.node).name)
            })
            .collect();
        let positions = self
            .outputs
            .iter()
            .map(|wanted| {
                names.iter().position(|n| n == wanted).ok_or_else(|| {
                    NetworkError::Interface(format!("no output {wanted} among {names:?}"))
                })
            })
            .collect::<Result<Vec<usize>, NetworkError>>()?;
        tracing::debug!(?shape, elapsed = ?started.elapsed(), "tract plan built");
        let plan = Arc::new(Plan { plan, positions });
        plans.insert(shape, plan.clone());
        Ok(plan)
    }
}

impl Runner for TractRunner {
    fn prepare(&self, shape: [usize; 4]) -> Result<(), NetworkError> {
        self.plan(shape).map(drop)
    }

    fn run(&self, input: Vec<f32>, shape: [usize; 4]) -> Result<Vec<Vec<f32>>, NetworkError> {
        let plan = self.plan(shape)?;
        let input = Tensor::from_shape(&shape, &input)
            .map_err(|e| NetworkError::Run(format!("a {shape:?} input: {e:#}")))?;
        let outputs = plan
            .plan
            .run(tvec![input.into_tvalue()])
            .map_err(|e| NetworkError::Run(format!("a {shape:?} input: {e:#}")))?;
        plan.positions
            .iter()
            .map(|&position| {
                outputs[position]
                    .try_as_plain_ram()
                    .and_then(|view| view.as_slice::<f32>())
                    .map(<[f32]>::to_vec)
                    .map_err(|e| NetworkError::Interface(format!("output {position}: {e:#}")))
            })
            .collect()
    }
}
