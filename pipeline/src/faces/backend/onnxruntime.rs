//! The ONNX Runtime backend (the library loaded by [`super::library`] first). For each input
//! shape the model's input is declared at exactly that shape (YuNet's file says 640x640;
//! a fixed shape also lets ONNX Runtime plan its memory once) and its stale intermediate
//! and output shapes dropped, the weights and nodes unchanged. Sessions of a shape are
//! pooled: a call takes an idle one or builds another, runs on the calling thread (one
//! intra-op thread, sequential execution, all graph optimisations, no CPU memory arena) and
//! gives it back, so N concurrent callers hold N sessions. Sessions share their pre-packed
//! weights; intermediate tensors are freed after each run.

use std::collections::HashMap;
use std::sync::Arc;

use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, PrepackedWeights};
use ort::value::Tensor;
use parking_lot::Mutex;
use prost::Message;
use tract_onnx::pb::{self, tensor_shape_proto::Dimension, tensor_shape_proto::dimension};

use super::{NetworkError, Runner};

pub(super) struct OrtRunner {
    model: pb::ModelProto,
    input: String,
    outputs: Vec<String>,
    prepacked: PrepackedWeights,
    pools: Mutex<HashMap<[usize; 4], Arc<Pool>>>,
}

/// A shape's model bytes and its idle sessions.
struct Pool {
    bytes: Vec<u8>,
    idle: Mutex<Vec<Session>>,
}

impl OrtRunner {
    pub(super) fn new(bytes: Vec<u8>, outputs: Vec<String>) -> Result<OrtRunner, String> {
        let model = pb::ModelProto::decode(bytes.as_slice()).map_err(|e| format!("{e}"))?;
        let graph = model.graph.as_ref().ok_or("the file holds no graph")?;
        let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let inputs: Vec<&str> = graph
            .input
            .iter()
            .map(|i| i.name.as_str())
            .filter(|name| !initializers.contains(name))
            .collect();
        let [input] = inputs.as_slice() else {
            return Err(format!("one input expected, the graph has {inputs:?}"));
        };
        let names: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
        if let Some(missing) = outputs.iter().find(|o| !names.contains(&o.as_str())) {
            return Err(format!("no output {missing} among {names:?}"));
        }
        Ok(OrtRunner {
            input: (*input).to_owned(),
            model,
            outputs,
            prepacked: PrepackedWeights::new(),
            pools: Mutex::new(HashMap::new()),
        })
    }

    fn pool(&self, shape: [usize; 4]) -> Result<Arc<Pool>, NetworkError> {
        let mut pools = self.pools.lock();
        if let Some(pool) = pools.get(&shape) {
            return Ok(pool.clone());
        }
        let pool = Arc::new(Pool {
            bytes: self.model_at(shape)?,
            idle: Mutex::new(Vec::new()),
        });
        let session = self.session(&pool.bytes, shape)?;
        pool.idle.lock().push(session);
        pools.insert(shape, pool.clone());
        Ok(pool)
    }

    /// The model with its input declared at `shape`.
    fn model_at(&self, shape: [usize; 4]) -> Result<Vec<u8>, NetworkError> {
        let mut model = self.model.clone();
        let graph = model
            .graph
            .as_mut()
            .ok_or_else(|| NetworkError::Interface("the file holds no graph".into()))?;
        let input = graph
            .input
            .iter_mut()
            .find(|i| i.name == self.input)
            .ok_or_else(|| NetworkError::Interface(format!("no input {}", self.input)))?;
        let dims = shape
            .iter()
            .map(|&d| Dimension {
                denotation: String::new(),
                value: Some(dimension::Value::DimValue(d as i64)),
            })
            .collect();
        match input.r#type.as_mut().and_then(|t| t.value.as_mut()) {
            Some(pb::type_proto::Value::TensorType(tensor)) => {
                tensor.shape = Some(pb::TensorShapeProto { dim: dims });
            }
            None => {
                return Err(NetworkError::Interface(
                    "the input has no tensor type".into(),
                ));
            }
        }
        graph.value_info.clear();
        for output in &mut graph.output {
            if let Some(pb::type_proto::Value::TensorType(tensor)) =
                output.r#type.as_mut().and_then(|t| t.value.as_mut())
            {
                tensor.shape = None;
            }
        }
        Ok(model.encode_to_vec())
    }

    fn session(&self, bytes: &[u8], shape: [usize; 4]) -> Result<Session, NetworkError> {
        let plan_error = |e: ort::Error| {
            NetworkError::Plan(format!(
                "an ONNX Runtime session for a {shape:?} input: {e}"
            ))
        };
        let environment = super::library::environment().map_err(NetworkError::Plan)?;
        let started = std::time::Instant::now();
        // Each step's error carries the builder back; only its message is kept.
        let step_error =
            |e: ort::Error<ort::session::builder::SessionBuilder>| plan_error(e.into());
        let session = Session::builder(&environment)
            .map_err(plan_error)?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(step_error)?
            .with_intra_threads(1)
            .map_err(step_error)?
            .with_inter_threads(1)
            .map_err(step_error)?
            .with_parallel_execution(false)
            .map_err(step_error)?
            // No memory pattern and no arena: each session (one per input shape and
            // concurrent caller: two frame passes, four region sizes, the embedder's batch
            // sizes) would keep its largest run's memory for good. In `dipper-bench
            // community` (150 s) the daemon peaked at 1,778 MB with both, 799 MB without,
            // indexing 5 % slower. The process must not exit while a run is in flight (the
            // daemon joins its face workers first): without the arena that crashes.
            .with_memory_pattern(false)
            .map_err(step_error)?
            .with_execution_providers([ort::ep::CPU::default().with_arena_allocator(false).build()])
            .map_err(step_error)?
            .with_prepacked_weights(&self.prepacked)
            .map_err(step_error)?
            .commit_from_memory(bytes)
            .map_err(plan_error)?;
        tracing::debug!(?shape, elapsed = ?started.elapsed(), "onnxruntime session built");
        Ok(session)
    }
}

impl Runner for OrtRunner {
    fn prepare(&self, shape: [usize; 4]) -> Result<(), NetworkError> {
        self.pool(shape).map(drop)
    }

    fn run(&self, input: Vec<f32>, shape: [usize; 4]) -> Result<Vec<Vec<f32>>, NetworkError> {
        let pool = self.pool(shape)?;
        let idle = pool.idle.lock().pop();
        let mut session = match idle {
            Some(session) => session,
            None => self.session(&pool.bytes, shape)?,
        };
        let result = run_session(&mut session, &self.input, &self.outputs, input, shape);
        pool.idle.lock().push(session);
        result
    }
}

fn run_session(
    session: &mut Session,
    input_name: &str,
    output_names: &[String],
    input: Vec<f32>,
    shape: [usize; 4],
) -> Result<Vec<Vec<f32>>, NetworkError> {
    let run_error = |e: ort::Error| NetworkError::Run(format!("a {shape:?} input: {e}"));
    let tensor = Tensor::from_array((shape, input)).map_err(run_error)?;
    let outputs = session
        .run(ort::inputs![input_name => tensor])
        .map_err(run_error)?;
    output_names
        .iter()
        .map(|name| {
            let value = outputs
                .get(name)
                .ok_or_else(|| NetworkError::Interface(format!("no output {name}")))?;
            let (_, values) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| NetworkError::Interface(format!("output {name}: {e}")))?;
            Ok(values.to_vec())
        })
        .collect()
}
