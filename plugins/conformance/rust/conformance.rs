//! The wstream conformance vocabulary (plugins/conformance/README.md) in Rust, with exactly the
//! semantics and messages of the Go plugin (plugins/conformance), so that
//! one vector file tests every SDK. Type errors are record errors
//! (`Err`), never panics.

#[path = "../../../guest-sdk/rust/wstream.rs"]
mod wstream;

use wstream::{add, pair, sub, Plugin, State, Value};

pub fn register(p: &mut Plugin) {
    p.name("conformance", "1.0.0");

    p.map("identity", Ok);
    p.map("to-string", to_string);
    p.map("pair-with-one", |x| Ok(pair(x, 1)));
    p.map("pair-with-x", |x| Ok(pair(x, "x")));
    p.map("add-4", |x| add(&x, &Value::Int(4)));
    p.map("add-8", |x| add(&x, &Value::Int(8)));
    p.map("add-10", |x| add(&x, &Value::Int(10)));
    p.flat_map("x-and-double", |x| {
        let d = add(&x, &x)?;
        Ok(vec![x, d])
    });
    p.flat_map("v-and-v-plus-10", |v| {
        let w = add(&v, &Value::Int(10))?;
        Ok(vec![v, w])
    });
    p.filter("is-even", |x| match x.as_int() {
        Some(i) => Ok(i % 2 == 0),
        None => Err(format!("is-even wants an int, got {}", x.type_name())),
    });
    p.flat_map("split-words", split_words);
    p.map("first", |x| match x {
        Value::Array(mut a) if a.len() == 2 => Ok(a.swap_remove(0)),
        _ => Err("first wants a pair [a, b]".into()),
    });
    p.map("int-seconds", |x| match x.as_int() {
        Some(s) => Ok(Value::Int(s.wrapping_mul(1000))),
        None => Err(format!("int-seconds wants an int (seconds), got {}", x.type_name())),
    });

    p.reduce("sum", |a, b| add(&a, &b));
    p.reduce("subtract", |a, b| sub(&a, &b));
    p.filter("value-nonzero", value_nonzero);

    p.update("sum-into-state", |_, values, state, _| {
        let s = sum(&values)?;
        Ok(Some(add(&state.unwrap_or(Value::Int(0)), &s)?))
    });
    p.update("add-batch-time-if-values", |_, values, state, t| {
        let s = state.unwrap_or(Value::Int(0));
        if values.is_empty() {
            return Ok(Some(s));
        }
        Ok(Some(add(&s, &Value::Int(t))?))
    });
    p.update("count-expire-after-2-idle", count_expire_after_2_idle);

    p.map_state("running-sum", |_, _, v, st| Ok(Some(running_sum(v, st)?)));
    p.map_state("running-sum-emit-key-twice", |_, k, v, st| {
        running_sum(v, st)?;
        match k {
            Value::Str(s) => Ok(Some(Value::Str(format!("{}{}", s, s)))),
            _ => Err(format!("running-sum-emit-key-twice wants a string key, got {}", k.type_name())),
        }
    });
    p.map_state("running-sum-emit-pair", |_, k, v, st| {
        let s = running_sum(v, st)?;
        Ok(Some(pair(k.clone(), s)))
    });
    p.map_state("running-sum-emit-none", |_, _, v, st| {
        running_sum(v, st)?;
        Ok(None)
    });
    p.map_state("remove-if-exists-emit-key", |_, k, v, st| {
        if st.exists() {
            st.remove();
            return Ok(Some(k.clone()));
        }
        st.update(v.unwrap_or(Value::Nil));
        Ok(None)
    });
    p.map_state("set-one-emit-key-on-timeout", |_, k, v, st| {
        if v.is_some() {
            st.update(Value::Int(1));
        }
        Ok(if st.is_timing_out() { Some(k.clone()) } else { None })
    });
    p.map_state("state-command", state_command);
    p.map_state("inc-or-init-remove-on-2", |_, _, v, st| {
        match v.and_then(|v| v.as_int()) {
            Some(1) => inc_or_init(st)?,
            Some(2) => st.remove(),
            _ => {}
        }
        Ok(None)
    });

    p.map("key-by-first", |x| match &x {
        Value::Array(a) if a.len() == 2 => Ok(pair(a[0].clone(), x.clone())),
        _ => Err("key-by-first wants a pair [a, b]".into()),
    });
    p.map("second-seconds", |x| match x {
        Value::Array(a) if a.len() == 2 => match a[1].as_int() {
            Some(s) => Ok(Value::Int(s.wrapping_mul(1000))),
            None => Err(format!("int-seconds wants an int (seconds), got {}", a[1].type_name())),
        },
        _ => Err("second-seconds wants a pair [a, seconds]".into()),
    });
}

/// The running count of Spark's MapWithStateSuite: s' = (state or 0) +
/// (value or 0) becomes the state. A timing-out call may not update, so it
/// fails the key, as Spark's update throws there.
fn running_sum(v: Option<Value>, st: &mut State) -> Result<Value, String> {
    let s = add(st.get().unwrap_or(&Value::Int(0)), &v.unwrap_or(Value::Int(0)))?;
    st.update(s.clone());
    Ok(s)
}

/// Increments the state, or sets it to 0 when there is none.
fn inc_or_init(st: &mut State) -> Result<(), String> {
    let next = match st.get() {
        Some(s) => add(s, &Value::Int(1))?,
        None => Value::Int(0),
    };
    st.update(next);
    Ok(())
}

/// MapWithStateRDDSuite's testFunc: each value is a command on the state.
fn state_command(_: i64, _: &Value, v: Option<Value>, st: &mut State) -> Result<Option<Value>, String> {
    let v = match v {
        Some(v) => v,
        None => return Ok(None), // timing out
    };
    match v.as_str() {
        Some("noop") => Ok(None),
        Some("get-state") => Ok(Some(st.get().cloned().unwrap_or(Value::Int(-1)))),
        Some("update-state") => inc_or_init(st).map(|_| None),
        Some("remove-state") => {
            st.remove();
            Ok(None)
        }
        _ => Err(format!("state-command: unknown command {} (want noop, get-state, update-state or remove-state)", v.text())),
    }
}

/// An int is decimal and a string itself; anything else is Scala's
/// toString of it (2.5, 1.0E10, (a,1), List(1, 2), null), as Spark's
/// map(_.toString) and the host's pprint show it.
fn to_string(x: Value) -> Result<Value, String> {
    match x {
        Value::Str(_) => Ok(x),
        _ => Ok(Value::Str(x.text())),
    }
}

/// Splits on every single space, like Go's strings.Split: "a  b" has an
/// empty word between the spaces. Trimming is the pipeline's business.
fn split_words(x: Value) -> Result<Vec<Value>, String> {
    match x {
        Value::Str(s) => Ok(s.split(' ').map(Value::from).collect()),
        _ => Err(format!("split-words wants a string, got {}", x.type_name())),
    }
}

fn value_nonzero(x: Value) -> Result<bool, String> {
    match &x {
        Value::Array(a) if a.len() == 2 => match a[1].as_float() {
            Some(v) => Ok(v != 0.0),
            None => Err(format!("value-nonzero wants a number value, got {}", a[1].type_name())),
        },
        _ => Err("value-nonzero wants a pair [k, v]".into()),
    }
}

/// Adds values, starting from int 0 so that no values sum to 0.
fn sum(values: &[Value]) -> Result<Value, String> {
    values.iter().try_fold(Value::Int(0), |acc, v| add(&acc, v))
}

/// Spark's "updateStateByKey - object lifecycle": the state [counter, idle]
/// counts values and the batches in a row without any; the key is dropped
/// on its second idle batch.
fn count_expire_after_2_idle(_: Value, values: Vec<Value>, state: Option<Value>, _: i64) -> Result<Option<Value>, String> {
    let st = state.unwrap_or_else(|| pair(0, 0));
    let (mut counter, idle) = match st {
        Value::Array(mut a) if a.len() == 2 => {
            let idle = a.pop().unwrap();
            (a.pop().unwrap(), idle)
        }
        _ => return Err("count-expire-after-2-idle wants a state [counter, idle]".into()),
    };
    let mut idle = match idle.as_int() {
        Some(i) => i,
        None => return Err(format!("count-expire-after-2-idle: idle must be an int, got {}", idle.type_name())),
    };
    let s = sum(&values)?;
    if s.as_float() == Some(0.0) {
        idle += 1;
    } else {
        counter = add(&counter, &s)?;
        idle = 0;
    }
    if idle == 2 {
        return Ok(None);
    }
    Ok(Some(Value::Array(vec![counter, Value::Int(idle)])))
}
