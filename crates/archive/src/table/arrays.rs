//! A column as an Arrow array, for the Parquet file, and an Arrow array read back from one
//! appended to a column.

use std::sync::Arc;

use arrow_array::builder::{
    Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{
    Array, ArrayRef, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};

use chrono::DateTime;
use uuid::Uuid;

use super::Column;
use crate::Error;

pub(super) fn to_array(column: &Column) -> ArrayRef {
    match column {
        Column::Uuid(v) => {
            let mut b = StringBuilder::with_capacity(v.len(), v.len() * 36);
            for x in v {
                b.append_option(x.map(|u| u.hyphenated().to_string()));
            }
            Arc::new(b.finish())
        }
        Column::Text(v) => {
            let mut b = StringBuilder::new();
            for x in v {
                b.append_option(x.as_deref());
            }
            Arc::new(b.finish())
        }
        Column::I64(v) => {
            let mut b = Int64Builder::with_capacity(v.len());
            b.extend(v.iter().copied());
            Arc::new(b.finish())
        }
        Column::I32(v) => {
            let mut b = Int32Builder::with_capacity(v.len());
            b.extend(v.iter().copied());
            Arc::new(b.finish())
        }
        Column::Time(v) => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(v.len());
            b.extend(v.iter().map(|t| t.map(|t| t.timestamp_micros())));
            Arc::new(b.finish().with_timezone("UTC"))
        }
    }
}

/// Appends a file's array to a column, refusing a type or a value the table cannot hold.
pub(super) fn append(column: &mut Column, array: &dyn Array, table: &str) -> Result<(), Error> {
    let wrong = || Error::Corrupt(format!("{table}: a column has the wrong type"));
    match column {
        Column::Uuid(v) => {
            let a = array
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(wrong)?;
            for x in a.iter() {
                v.push(match x {
                    Some(s) => Some(
                        Uuid::parse_str(s)
                            .map_err(|_| Error::Corrupt(format!("{table}: {s:?} is not a uuid")))?,
                    ),
                    None => None,
                });
            }
        }
        Column::Text(v) => {
            let a = array
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(wrong)?;
            v.extend(a.iter().map(|x| x.map(str::to_owned)));
        }
        Column::I64(v) => {
            let a = array
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(wrong)?;
            v.extend(a.iter());
        }
        Column::I32(v) => {
            let a = array
                .as_any()
                .downcast_ref::<Int32Array>()
                .ok_or_else(wrong)?;
            v.extend(a.iter());
        }
        Column::Time(v) => {
            let a = array
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .ok_or_else(wrong)?;
            for x in a.iter() {
                v.push(match x {
                    Some(us) => Some(DateTime::from_timestamp_micros(us).ok_or_else(|| {
                        Error::Corrupt(format!("{table}: time {us} out of range"))
                    })?),
                    None => None,
                });
            }
        }
    }
    Ok(())
}
