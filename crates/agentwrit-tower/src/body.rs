//! A body that is either another body or bytes already in hand: the shape
//! of the layer's response body (the inner service's body, or a problem
//! JSON) and of the MCP layer's request body (the original body, or the
//! bytes it read to decide).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// Another body, or bytes yielded as one frame (`None` once taken, or
/// when there were none).
#[derive(Debug)]
pub(crate) enum EitherBody<B> {
    Inner(B),
    Bytes(Option<Bytes>),
}

impl<B> Body for EitherBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            EitherBody::Inner(body) => Pin::new(body).poll_frame(cx),
            EitherBody::Bytes(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            EitherBody::Inner(body) => body.is_end_stream(),
            EitherBody::Bytes(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            EitherBody::Inner(body) => body.size_hint(),
            EitherBody::Bytes(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}
